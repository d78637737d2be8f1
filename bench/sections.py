"""bench/sections.py - the generic results of benchmarks other than bench/run
(bench/memory.py now; sessions, kernels, volumes later): find the newest
bench/results/<name>-<ts>.json of each, check it and render its section and
its lines of the "Key numbers" table for bench/report.

The schema is documented at the top of bench/report. Python 3 standard
library only; bench/memory.py imports from_memory() to write the same fields.
"""

import datetime
import glob
import json
import os
import re
import sys

# <name>-<UTC timestamp>.json; <name> may hold dashes: "memory" is the kind
# memory, "memory-before-groupcommit" a labelled extra run of the kind memory.
FILE_RE = re.compile(r"(?P<name>[a-z][a-z0-9_]*(?:-[a-z0-9_]+)*)-"
                     r"(?P<ts>\d{8}T\d{6}Z)\.json")
# Kinds with a renderer of their own in bench/report.
DEDICATED = ("languages",)
# Sections in this order first, any other kind after them by name.
ORDER = ("memory", "sessions", "kernels", "volumes")
# An extra run further back than this is "an earlier session", not the same.
SAME_SESSION = datetime.timedelta(hours=6)


_warned = set()


def warn(msg):
    if msg not in _warned:  # a row is judged for its section and Key numbers
        _warned.add(msg)
        print("bench/report: " + msg, file=sys.stderr)


def discover(results_dir):
    """{kind: {"main": (path, doc), "earlier": [(variant, path, doc)]}}: the
    newest <kind>-<ts>.json of every kind, and per <kind>-<variant>-<ts>.json
    variant the newest file started before it. bench/run's <ts>.json (no
    name), files without a "kind" and kinds in DEDICATED are left out."""
    mains, variants = {}, {}
    for path in sorted(glob.glob(os.path.join(results_dir, "*.json"))):
        m = FILE_RE.fullmatch(os.path.basename(path))
        if not m:
            continue
        name, ts = m.group("name"), m.group("ts")
        if name.split("-")[0] in DEDICATED:
            continue
        try:
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            warn("skipping %s: %s" % (path, e))
            continue
        kind = doc.get("kind") if isinstance(doc, dict) else None
        if not kind:
            warn("skipping %s: no \"kind\"" % path)
            continue
        if name == kind:
            mains.setdefault(kind, []).append((ts, path, doc))
        elif name.startswith(kind + "-"):
            variants.setdefault(kind, []).append(
                (ts, name[len(kind) + 1:], path, doc))
        else:
            warn("skipping %s: its kind %r does not match the file name"
                 % (path, kind))
    out = {}
    for kind, runs in mains.items():
        ts, path, doc = max(runs, key=lambda r: r[0])
        newest = {}
        later = []
        for vts, var, vpath, vdoc in sorted(variants.get(kind, [])):
            if vts < ts:
                newest[var] = (vts, var, vpath, vdoc)
            else:
                later.append((var, vpath, vdoc))
        out[kind] = {"main": (path, doc),
                     "earlier": [(v, p, d) for _, v, p, d in
                                 sorted(newest.values())],
                     "later": later}
    for kind in variants:
        if kind not in mains:
            warn("%s: only labelled extra runs, no %s-<ts>.json: not "
                 "rendered" % (kind, kind))
    return out


def kinds_in_order(found):
    first = [k for k in ORDER if k in found]
    return first + sorted(k for k in found if k not in ORDER)


# --- bench/memory.py's own format -----------------------------------------

MEMORY_TITLE = ("Memory (KV): /v1/memory against etcd and the static-file "
                "ceiling")
MEMORY_OPS = {("memory", "get"): "GET", ("memory", "put"): "PUT (durable)",
              ("etcd", "get"): "range", ("etcd", "put"): "put",
              ("static", "get"): "GET"}
# goal text of bench/memory.py: (metric, isobox target/op, baseline, name)
MEMORY_GOALS = {
    "GET >= 2x etcd range": ("GET", ("memory", "get"), ("etcd", "get"),
                             "etcd range"),
    "durable PUT >= 1x etcd put": ("durable PUT", ("memory", "put"),
                                   ("etcd", "put"), "etcd put"),
    "GET >= 0.5x static file": ("GET", ("memory", "get"),
                                ("static", "get"), "static file"),
}


def from_memory(doc):
    """The generic fields for a bench/memory.py results document (schema 1:
    "results" of ab runs, "goals" with ratio and need): title, host,
    params, rows (one per goal and concurrency), tables."""
    res = doc.get("results") or []

    def ops(key, c):
        for r in res:
            if (r["target"], r["op"]) == key and r["concurrency"] == c:
                return r["ops"]
        return None

    rows = []
    for g in doc.get("goals") or []:
        metric, mine, theirs, name = MEMORY_GOALS.get(
            g["goal"], (g["goal"], None, None, "baseline"))
        c = g["concurrency"]
        row = {"metric": "memory %s c=%d" % (metric, c),
               "isobox": ops(mine, c) if mine else None,
               "baseline_name": "%s c=%d" % (name, c),
               "baseline": ops(theirs, c) if theirs else None,
               "unit": "ops/s", "goal": g["need"], "better": "higher",
               "issue": 16, "ratio": g["ratio"], "met": g["met"]}
        rows.append(row)
    errors = any(r.get("errors") for r in res)
    header = ["target", "op", "c", "ops/s", "p50 ms", "p99 ms"]
    if errors:
        header.append("errors")
    cells = []
    for r in res:
        line = [r["target"], MEMORY_OPS.get((r["target"], r["op"]), r["op"]),
                "%d" % r["concurrency"], "%.0f" % r["ops"],
                "%.2f" % r["p50_ms"], "%.2f" % r["p99_ms"]]
        if errors:
            line.append("%d" % r.get("errors", 0))
        cells.append(line)
    m = doc.get("machine") or {}
    host = {"cpus": m.get("cpus"), "kernel": m.get("kernel")}
    if doc.get("etcd_version"):
        host["etcd"] = doc["etcd_version"]
    requests = max([r["n"] for r in res] or [0])
    return {"title": MEMORY_TITLE, "host": host,
            "params": {"requests": requests}, "rows": rows,
            "tables": [{"header": header, "rows": cells}]}


ADAPTERS = {"memory": from_memory}


def generic(kind, doc):
    """doc with the generic fields: as written, or from an adapter for a
    kind that wrote its own format before it wrote these (None: neither)."""
    if "rows" in doc and "title" in doc:
        return doc
    if kind in ADAPTERS:
        out = dict(doc)
        out.update(ADAPTERS[kind](doc))
        return out
    warn("%s: no \"rows\"/\"title\" and no adapter: not rendered" % kind)
    return None


# --- rows: ratio and goal, checked ----------------------------------------

def judge(row, where=""):
    """row with ratio (isobox / baseline) and met recomputed from the
    numbers where they are there; a disagreeing "met" in the file is
    reported and overruled."""
    row = dict(row)
    a, b, goal = row.get("isobox"), row.get("baseline"), row.get("goal")
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b:
        row["ratio"] = a / b
    if goal is not None and row.get("ratio") is not None:
        lower = row.get("better") == "lower"
        met = row["ratio"] <= goal if lower else row["ratio"] >= goal
        if "met" in row and bool(row["met"]) != met:
            warn("%s%s: the file says met=%s, its numbers say %s" % (
                where, row.get("metric"), row["met"], met))
        row["met"] = met
    else:
        row["met"] = None
    return row


def num(v):
    """A measured number: no more digits than it is worth."""
    if v is None:
        return "–"
    if not isinstance(v, (int, float)):
        return str(v)
    if abs(v) >= 10:
        return "%.0f" % v
    if abs(v) >= 1:
        return "%.2f" % v
    return "%.2g" % v if v else "0"


def with_unit(v, unit):
    if v is None:
        return "–"
    if not unit:
        return num(v)
    return "%s%s%s" % (num(v), "" if unit.startswith("/") else " ", unit)


def goal_text(row):
    if row.get("goal_text"):
        return row["goal_text"]
    if row.get("goal") is None:
        return "–"
    t = "%s %s×" % ("≤" if row.get("better") == "lower" else "≥",
                    ("%g" % row["goal"]))
    if row.get("issue"):
        t += " (#%s)" % row["issue"]
    return t


def met_text(row):
    if row.get("met") is None:
        return "–"
    return "met" if row["met"] else "NOT met"


def ratio_text(row):
    r = row.get("ratio")
    return "–" if r is None else "%.2f×" % r


def baseline_text(row):
    if row.get("baseline") is None and not row.get("baseline_name"):
        return "–"
    return "%s %s" % (row.get("baseline_name", "baseline"),
                      with_unit(row.get("baseline"), row.get("unit")))


def key_table(lines):
    """lines: [(row, link)] -> the Key numbers table (markdown)."""
    out = ["| headline | isobox | baseline | isobox ÷ baseline | goal | met "
           "| run |",
           "|---|---:|---:|---:|---|---|---|"]
    for row, link in lines:
        out.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            row["metric"], with_unit(row.get("isobox"), row.get("unit")),
            baseline_text(row), ratio_text(row), goal_text(row),
            met_text(row), link))
    return "\n".join(out)


# --- a section ------------------------------------------------------------

def started_of(doc):
    try:
        return datetime.datetime.fromisoformat(doc["started"])
    except (KeyError, TypeError, ValueError):
        return None


def when(doc):
    t = started_of(doc)
    return t.strftime("%Y-%m-%d %H:%M:%S") if t else "?"


def params_text(doc):
    if doc.get("command"):
        return "`%s`" % doc["command"]
    p = doc.get("params") or {}
    if not p:
        return ""
    return "`%s`" % " ".join("--%s %s" % (k, v) for k, v in sorted(p.items()))


def host_text(doc):
    h = doc.get("host")
    if isinstance(h, str):
        return h
    h = h or {}
    parts = []
    if h.get("cpus"):
        parts.append("%s CPUs" % h["cpus"])
    parts += ["%s %s" % (k, v) for k, v in h.items()
              if k != "cpus" and v is not None]
    return ", ".join(parts)


def table(t):
    out = []
    if t.get("caption"):
        out += [t["caption"], ""]
    hdr = t["header"]
    out.append("| " + " | ".join(hdr) + " |")
    out.append("|" + "---|" * len(hdr))
    for r in t["rows"]:
        out.append("| " + " | ".join(num(c) if not isinstance(c, str) else c
                                     for c in r) + " |")
    return "\n".join(out)


def link(path, doc_dir, repo):
    rel = os.path.relpath(path, repo)
    return "[`%s`](%s)" % (rel, os.path.relpath(path, doc_dir))


def render(kind, found, prose, doc_dir, repo):
    """The section of one kind (markdown, no trailing newline).

    prose: what bench/report knows beyond the file: {"intro": text shown
    when no run-specific intro exists, "runs": {file name: {"intro",
    "label", "detail", "after": [paragraphs]}}, "labels": {variant:
    label}}. Run-specific prose is used only while its file is the one
    rendered, so a new run never carries an old run's reading."""
    path, raw = found["main"]
    doc = generic(kind, raw)
    if doc is None:
        return None
    runs = prose.get("runs") or {}
    mine = runs.get(os.path.basename(path), {})
    L = ["## " + doc["title"], ""]
    intro = mine.get("intro") or prose.get("intro")
    if intro:
        L += [intro, ""]
    src = "Results: %s (started %s UTC; host: %s)" % (
        link(path, doc_dir, repo), when(doc), host_text(doc) or "?")
    earlier = []
    for var, epath, eraw in found.get("earlier", []):
        edoc = generic(kind, eraw)
        if edoc is not None:
            earlier.append((var, epath, edoc))
    if earlier:
        src += "; earlier: " + ", ".join(
            link(p, doc_dir, repo) for _, p, _ in earlier)
    L += [src + ".", ""]
    t_main = started_of(doc)
    for var, epath, edoc in earlier:
        e = runs.get(os.path.basename(epath), {})
        label = e.get("label") or (prose.get("labels") or {}).get(var) or \
            var.replace("-", " ").capitalize()
        t = started_of(edoc)
        gap = (t_main - t) if t and t_main else None
        if gap is not None and gap <= SAME_SESSION:
            rel = "an earlier run of the same session (%s UTC, %d min " \
                "before the run below" % (t.strftime("%H:%M:%S"),
                                          round(gap.total_seconds() / 60))
        else:
            rel = "an earlier session (%s UTC" % when(edoc)
        if e.get("detail"):
            rel += "; " + e["detail"]
        pt = params_text(edoc)
        L += ["%s: %s)%s:" % (label, rel, ", " + pt if pt else ""), ""]
        for t in edoc.get("tables") or []:
            L += [table(t), ""]
    label = mine.get("label") or ("The newest run" if earlier else "Run")
    detail = "; " + mine["detail"] if mine.get("detail") else ""
    pt = params_text(doc)
    if doc.get("tables"):
        L += ["%s (%s UTC%s)%s:" % (
            label, when(doc), detail,
            ", " + pt if pt else ""), ""]
        for t in doc["tables"]:
            L += [table(t), ""]
    rows = [judge(r, kind + ": ") for r in doc.get("rows") or []]
    if rows:
        L += ["Goals in this run (ratio: isobox ÷ baseline; computed from "
              "the results file):", ""]
        L.append("| metric | isobox | baseline | isobox ÷ baseline | goal "
                 "| met |")
        L.append("|---|---:|---:|---:|---|---|")
        for r in rows:
            L.append("| %s | %s | %s | %s | %s | %s |" % (
                r["metric"], with_unit(r.get("isobox"), r.get("unit")),
                baseline_text(r), ratio_text(r), goal_text(r), met_text(r)))
        L.append("")
    for n in doc.get("notes") or []:
        L += [n, ""]
    for para in mine.get("after") or []:
        L += [para, ""]
    while L and L[-1] == "":
        L.pop()
    return "\n".join(L)


def headlines(kind, found, doc_dir, repo):
    """[(row, link)] of the newest run of a kind for the Key numbers table:
    every row not marked "headline": false, a row measured again by a
    later labelled run replaced by that run's."""
    out = []
    at = {}
    # The main run's rows, then those of labelled runs of a few of its
    # rows made after it (<kind>-<variant>-<ts>.json newer than the main
    # run, e.g. one language measured again): a newer row of the same
    # metric and baseline takes the older one's place.
    for path, raw in [found["main"]] + [(p, d) for _, p, d in found.get("later", [])]:
        doc = generic(kind, raw)
        if doc is None:
            continue
        stem = os.path.basename(path)[:-len(".json")]
        ln = "[%s](%s)" % (stem, os.path.relpath(path, doc_dir))
        for r in doc.get("rows") or []:
            if not r.get("headline", True):
                continue
            # "(same run)" and the like name the run, not the baseline.
            key = (r.get("metric"), re.sub(r"\s*\([^)]*\)", "", r.get("baseline_name") or ""))
            if key in at:
                out[at[key]] = (judge(r, kind + ": "), ln)
            else:
                at[key] = len(out)
                out.append((judge(r, kind + ": "), ln))
    return out
