#!/usr/bin/python3
"""bench/languages_report.py - put the newest per-language measurements of
bench/languages.py into docs/LANGUAGES.md (and return them as markdown for
docs/BENCHMARKS.md).

For every language, the newest results file under bench/results/ that has
samples of it is used (a run of a few languages updates just those rows).
docs/LANGUAGES.md keeps its hand-written prose; this rewrites only:
  - the last cell ("hello world p50") of each row of the catalogue table,
  - the block between <!-- images:begin --> and <!-- images:end -->
    (image, languages, size from `docker image inspect` of the pinned ID),
  - the block between <!-- latency:begin --> and <!-- latency:end -->.

  bench/languages_report.py            rewrite docs/LANGUAGES.md
  bench/languages_report.py --check    exit 1 if it would change anything
"""

import argparse
import glob
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DOC = os.path.join(REPO, "docs", "LANGUAGES.md")
RESULTS = os.path.join(HERE, "results")

sys.dont_write_bytecode = True
sys.path.insert(0, HERE)
import isobench  # noqa: E402

try:
    import yaml
except ImportError:
    sys.exit("bench/languages_report.py: needs python3-yaml")


def newest_per_language(results_dir=RESULTS):
    """{(language, version): (file name, run doc, result row, summary row)}.
    Results are keyed "name" or, for a language with several versions,
    "name@version"; the version comes from the result row."""
    files = sorted(glob.glob(os.path.join(results_dir, "languages-*.json")))
    best = {}
    for path in files:  # oldest first: newer files overwrite
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        for key, summ in (doc.get("summary") or {}).items():
            if summ.get("execute"):
                res = doc["results"][key]
                best[(key.split("@")[0], str(res.get("version")))] = (
                    os.path.basename(path), doc, res, summ)
    return best


def ms(st, key="p50"):
    return "–" if not st else "%.0f" % st[key]


def secs(st):
    return "–" if not st else "%.2f s" % (st["p50"] / 1000.0)


def label(key, order):
    """A row label: the name, with the version when it has several."""
    name, version = key
    return name if sum(1 for n, _ in order if n == name) == 1 else "%s %s" % (name, version)


# Issue 19's goals for warm /execute p50 ÷ the same run's `docker run` p50.
GOAL_TS = 0.3
GOAL_JVM = ("java", "kotlin", "scala")
GOAL_NATIVE = ("c", "cpp", "go", "rust")


def warm_goal(name, compiled):
    """The goal ratio of a language (issue 19)."""
    if name in GOAL_JVM:
        return 0.5
    if name in GOAL_NATIVE:
        return 0.6
    if name == "typescript":
        return GOAL_TS
    return None if compiled else 0.1


def latency_table(best, order):
    lines = ["| language | /execute cold p50 (p90) | compile stage p50 | "
             "run stage p50 | `docker run` p50 (p90) | cold ÷ docker run "
             "| warm /execute p50 / p95 / p99 (warm/n) | warm ÷ docker run "
             "| goal | n | load | run |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---|"]
    for key in order:
        if key not in best:
            lines.append("| %s | not measured yet | | | | | | | | | | |" % label(key, order))
            continue
        fname, doc, res, s = best[key]
        ex, dk = s["execute"], s["docker_run"]
        ratio = "%.2f" % (ex["p50"] / dk["p50"]) if ex and dk else "–"
        load = res.get("load1_before")
        warm = "–"
        wratio = "–"
        goal = warm_goal(key[0], res.get("compiled"))
        wst = s.get("warm")
        if s.get("warm_samples"):
            warm = "%s / %s / %s (%d/%d)" % (
                ms(wst), ms(wst, "p95") if wst and "p95" in wst else "–",
                ms(wst, "p99") if wst and "p99" in wst else "–",
                s.get("warm_hits", 0), s["warm_samples"])
        if wst and dk:
            r = wst["p50"] / dk["p50"]
            wratio = "%.2f" % r
            if goal is not None:
                wratio += " (%s)" % ("met" if r <= goal else "NOT met")
        lines.append("| %s | %s (%s) | %s | %s | %s (%s) | %s | %s | %s | %s | %d | %s | %s |" % (
            label(key, order), ms(ex), ms(ex, "p90"), ms(s.get("compile_stage")),
            ms(s.get("run_stage")), ms(dk), ms(dk, "p90"), ratio, warm, wratio,
            "≤ %.1f×" % goal if goal is not None else "–",
            ex["n"], "%.1f" % load if load is not None else "–",
            "[%s](../bench/results/%s)" % (fname[len("languages-"):-5], fname)))
    return "\n".join(lines)


def image_rows(catalogue, lock):
    by_image = {}
    for e in catalogue:
        names = by_image.setdefault(e["image"], [])
        if e["name"] not in names:
            names.append(e["name"])
    lines = ["| image | languages | size | pinned ID |", "|---|---|---:|---|"]
    for image, names in by_image.items():
        ref = lock.get(image, image + ":latest")
        p = subprocess.run(["docker", "image", "inspect", "--format",
                            "{{.Size}}", ref], capture_output=True, text=True)
        size = ("%.0f MB" % (int(p.stdout.strip()) / 1e6)
                if p.returncode == 0 and p.stdout.strip().isdigit() else "?")
        lines.append("| `%s` | %s | %s | `%s` |" % (
            image, ", ".join(names), size, ref.split(":", 1)[-1][:12]
            if ref.startswith("sha256:") else ref))
    return "\n".join(lines)


def replace_block(text, tag, body):
    pat = re.compile(r"(<!-- %s:begin -->\n).*?(<!-- %s:end -->)" % (tag, tag),
                     re.S)
    if not pat.search(text):
        sys.exit("bench/languages_report.py: no <!-- %s:begin/end --> in %s"
                 % (tag, DOC))
    return pat.sub(lambda m: m.group(1) + body + "\n" + m.group(2), text)


def catalogue_order():
    with open(os.path.join(REPO, "registry", "languages.yaml"),
              encoding="utf-8") as f:
        return [(e["name"], str(e["version"]))
                for e in yaml.safe_load(f)["languages"]]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--lock", default="/var/lib/isobox/images.lock")
    args = ap.parse_args()

    with open(os.path.join(REPO, "registry", "languages.yaml"),
              encoding="utf-8") as f:
        catalogue = yaml.safe_load(f)["languages"]
    order = [(e["name"], str(e["version"])) for e in catalogue]
    best = newest_per_language()
    with open(DOC, encoding="utf-8") as f:
        text = f.read()
    new = text
    # The catalogue table's rows start "| name | version |".
    for key in order:
        cell = secs(best[key][3]["execute"]) if key in best else "–"
        new = re.sub(r"(?m)^(\| %s \| %s \|(?:[^|\n]*\|){4})[^|\n]*\|$"
                     % (re.escape(key[0]), re.escape(key[1])),
                     lambda m: m.group(1) + " " + cell + " |", new, count=1)
    lock = isobench.read_lock(args.lock, missing_ok=True)
    new = replace_block(new, "images", image_rows(catalogue, lock))
    new = replace_block(new, "latency", latency_table(best, order))
    if args.check:
        sys.exit(0 if new == text else 1)
    if new != text:
        with open(DOC, "w", encoding="utf-8") as f:
            f.write(new)
    print("bench/languages_report.py: %s %s" % (
        "updated" if new != text else "unchanged", os.path.relpath(DOC, REPO)))


if __name__ == "__main__":
    main()
