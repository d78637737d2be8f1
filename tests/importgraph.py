#!/usr/bin/env python3
"""importgraph.py - the module import graph of src/, and its two rules.

A module is a .c/.h pair under src/ (api.h and every api_*.c are one module,
"api"). Module A imports B when A's .c or .h has #include "B.h". The rules:

  1. no circles: the graph is acyclic;
  2. execution does not know HTTP: only the front doors (router, api, main)
     and http itself include http.h, and only router and main include api.h.

Run by `make check` (exit 0: both hold; 1: a rule is broken, each offence
printed). `importgraph.py --print` writes the graph as text, one module per
line with what it imports, lowest layer first (docs/ARCHITECTURE.md
section 2 shows it).

Usage: importgraph.py [--print] [SRC_DIR]   (default: $srcdir/src, else
the src/ next to this file's parent directory)
"""
import os
import re
import sys

FRONT = {"router", "api", "main"}  # the HTTP side: may include http.h
MAY_INCLUDE_API = {"router", "main"}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)\.h"', re.M)
# Circles tolerated while being taken apart (none now). A listed pair that no
# longer imports both ways is reported so the entry gets deleted.
KNOWN_CIRCLES = set()


def module_of(filename):
    base = os.path.splitext(filename)[0]
    return "api" if base == "api" or base.startswith("api_") else base


def load(src):
    """{module: set(imported modules)} for every .c/.h in src."""
    names = [f for f in os.listdir(src) if f.endswith((".c", ".h"))]
    mods = {module_of(f) for f in names}
    graph = {m: set() for m in mods}
    for f in names:
        with open(os.path.join(src, f)) as fh:
            text = fh.read()
        me = module_of(f)
        for inc in INCLUDE.findall(text):
            dep = module_of(inc + ".h")
            if dep != me and dep in mods:
                graph[me].add(dep)
    return graph


def find_cycle(graph):
    """One cycle as a list of modules [a, b, ..., a], or None."""
    state = {}
    stack = []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                return stack[stack.index(d):] + [d]
            if d not in state:
                c = visit(d)
                if c:
                    return c
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state:
            c = visit(m)
            if c:
                return c
    return None


def layers(graph):
    """[(depth, module)]: depth 0 imports nothing, else 1 + its deepest import."""
    depth = {}

    def d(m):
        if m not in depth:
            depth[m] = 0
            depth[m] = 1 + max((d(x) for x in graph[m]), default=-1)
        return depth[m]

    return sorted((d(m), m) for m in graph)


def main(argv):
    show = "--print" in argv
    args = [a for a in argv if a != "--print"]
    if args:
        src = args[0]
    elif os.environ.get("srcdir"):
        src = os.path.join(os.environ["srcdir"], "src")
    else:
        src = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")
    graph = load(src)
    bad = []
    for pair in KNOWN_CIRCLES:
        a, b = sorted(pair)
        if b in graph[a] and a in graph[b]:
            graph[a].discard(b)
            graph[b].discard(a)
            print("importgraph: known circle %s <-> %s (still to remove)" % (a, b),
                  file=sys.stderr)
        else:
            print("importgraph: %s <-> %s is no longer a circle: delete it from "
                  "KNOWN_CIRCLES" % (a, b), file=sys.stderr)
    cycle = find_cycle(graph)
    if cycle:
        bad.append("import circle: " + " -> ".join(cycle))
    for m, deps in sorted(graph.items()):
        if "http" in deps and m not in FRONT:
            bad.append("%s includes http.h but is below the handlers" % m)
        if "api" in deps and m not in MAY_INCLUDE_API:
            bad.append("%s includes api.h" % m)
    if show and not cycle:
        for depth, m in layers(graph):
            deps = " ".join(sorted(graph[m])) or "-"
            print("%2d  %-10s %s" % (depth, m, deps))
    for b in bad:
        print("importgraph: %s" % b, file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
