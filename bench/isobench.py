"""isobench.py - shared by bench/run and bench/report: statistics over the raw
samples of a results file, and the markdown tables both of them print.

Results file (bench/results/<UTC timestamp>.json, written by bench/run):
  {"schema": 1, "started", "finished", "duration_s", "params", "machine",
   "service", "images",
   "latency": {LANG: {METHOD: [SAMPLE, ...]}},   METHOD: execute |
                                                 docker_run | docker_exec
   "throughput": [{"target", "concurrency", "n", "wall_s", "samples": [...]}],
   "commands": {...the exact baseline argv...}, "notes": [...]}
  SAMPLE: {"t": client wall seconds, "ok": bool, "status"?, "exit"?,
           "server_ms"? (run.durationMs of /execute), "error"?}
"""

import glob
import json
import math
import os
import re

LANG_ORDER = ["python", "python-slim", "javascript", "bash"]
METHOD_LABEL = {
    "execute": "isobox `/execute`",
    "execute_cold": "isobox `/execute`, cold path forced",
    "docker_run": "`docker run --rm` (CLI, gVisor)",
    "docker_exec": "`docker exec` into a running sandbox",
}


def percentile(values, p):
    """Linear interpolation between closest ranks (numpy's default).
    With 30 samples p99 sits between the two largest values."""
    if not values:
        return None
    v = sorted(values)
    if len(v) == 1:
        return v[0]
    k = (len(v) - 1) * p / 100.0
    lo = math.floor(k)
    hi = math.ceil(k)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def summarize(samples):
    """Stats over the successful samples' wall times (seconds), plus counts."""
    ok = [s["t"] for s in samples if s.get("ok")]
    out = {"n": len(samples), "errors": len(samples) - len(ok)}
    if ok:
        out.update(
            p50=percentile(ok, 50),
            p95=percentile(ok, 95),
            p99=percentile(ok, 99),
            min=min(ok),
            max=max(ok),
            mean=sum(ok) / len(ok),
        )
    srv = [s["server_ms"] for s in samples
           if s.get("ok") and s.get("server_ms") is not None]
    if srv:
        out["server_p50_ms"] = percentile(srv, 50)
    known = [s for s in samples if "warm" in s]
    if known:
        out["warm"] = sum(1 for s in known if s["warm"])
        out["warm_known"] = len(known)
        out["prestarted"] = sum(1 for s in known if s.get("prestarted"))
    ready = [s["sandboxReadyMs"] for s in samples
             if s.get("ok") and s.get("sandboxReadyMs") is not None]
    if ready:
        out["ready_p50_ms"] = percentile(ready, 50)
    return out


def warm_share(s):
    if "warm_known" not in s:
        return "–"
    return "%d/%d" % (s["warm"], s["warm_known"])


def activity_summary(res, phase=None):
    """Mean/max of the machine-activity samples, over the run or a phase."""
    act = res.get("activity") or {}
    samples = act.get("samples") or []
    if phase:
        spans = [p for p in act.get("phases", []) if p["name"] == phase]
        if not spans:
            return None
        t0, t1 = spans[0]["t0"], spans[0].get("t1", 1e18)
        samples = [s for s in samples if t0 <= s["t"] <= t1 + 2]
    if not samples:
        return None

    def col(k):
        return [s[k] for s in samples if s.get(k) is not None]
    load, busy, sbx = col("load1"), col("cpu_busy"), col("sandboxes")
    return {
        "n": len(samples),
        "load1_mean": sum(load) / len(load) if load else None,
        "load1_max": max(load) if load else None,
        "cpu_busy_mean": sum(busy) / len(busy) if busy else None,
        "sandboxes_mean": sum(sbx) / len(sbx) if sbx else None,
        "sandboxes_max": max(sbx) if sbx else None,
    }


def summarize_throughput(level):
    samples = level["samples"]
    ok = sum(1 for s in samples if s.get("ok"))
    n = len(samples)
    wall = level.get("wall_s") or 0
    lat = [s["t"] for s in samples if s.get("ok")]
    statuses = {}
    errors = {}
    for s in samples:
        key = str(s.get("status", "exit" if "exit" in s else "error"))
        statuses[key] = statuses.get(key, 0) + 1
        if not s.get("ok"):
            code = (s.get("error") or "?").split(":")[0][:60]
            k = "%s %s" % (s.get("status", ""), code)
            errors[k.strip()] = errors.get(k.strip(), 0) + 1
    return {
        "target": level["target"],
        "concurrency": level["concurrency"],
        "n": n,
        "ok": ok,
        "wall_s": wall,
        "rate": (n / wall) if wall else None,
        "ok_rate": (ok / wall) if wall else None,
        "error_rate": ((n - ok) / n) if n else None,
        "p50": percentile(lat, 50),
        "p95": percentile(lat, 95),
        "statuses": statuses,
        "errors": errors,
    }


def latest_results(directory):
    """The newest bench/run results file: <UTC timestamp>.json (other tools
    keep their own files in the same directory under other names)."""
    files = sorted(f for f in glob.glob(os.path.join(directory, "*.json"))
                   if re.fullmatch(r"\d{8}T\d{6}Z\.json", os.path.basename(f)))
    return files[-1] if files else None


def read_lock(path, missing_ok=False):
    """{repository: image ID} of an images lock file ("isobox/NAME
    sha256:ID" lines, '#' comments); {} for a missing file if missing_ok."""
    ids = {}
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                parts = line.split()
                if len(parts) == 2 and not line.startswith("#"):
                    ids[parts[0]] = parts[1]
    except OSError:
        if not missing_ok:
            raise
    return ids


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def ms(x):
    return "–" if x is None else "%.0f" % (x * 1000.0)


def table_python(res):
    """Table 1: python print(42), every method, all stats (milliseconds)."""
    lat = res.get("latency", {}).get("python", {})
    rows = ["| method | n | errors | p50 | p95 | p99 | min | max | mean | "
            "warm sandbox |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for m in ("execute", "execute_cold", "docker_run", "docker_exec"):
        if m not in lat:
            continue
        s = summarize(lat[m])
        rows.append("| %s | %d | %d | %s | %s | %s | %s | %s | %s | %s |" % (
            METHOD_LABEL[m], s["n"], s["errors"], ms(s.get("p50")),
            ms(s.get("p95")), ms(s.get("p99")), ms(s.get("min")),
            ms(s.get("max")), ms(s.get("mean")),
            warm_share(s) if m.startswith("execute") else "–"))
    return "\n".join(rows)


def table_languages(res):
    """Table 2: p50 (and p95) per language, /execute against docker run."""
    rows = ["| language | `/execute` p50 | p95 | in-sandbox p50 | "
            "`docker run` p50 | p95 | `/execute` ÷ `docker run` | errors | "
            "warm sandbox |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    lat = res.get("latency", {})
    for lang in LANG_ORDER:
        if lang not in lat:
            continue
        e = summarize(lat[lang].get("execute", []))
        d = summarize(lat[lang].get("docker_run", []))
        ratio = (e["p50"] / d["p50"]) if e.get("p50") and d.get("p50") else None
        srv = e.get("server_p50_ms")
        rows.append("| %s | %s | %s | %s | %s | %s | %s | %d / %d | %s |" % (
            lang, ms(e.get("p50")), ms(e.get("p95")),
            "–" if srv is None else "%.0f" % srv,
            ms(d.get("p50")), ms(d.get("p95")),
            "–" if ratio is None else "%.2f" % ratio,
            e["errors"], d["errors"], warm_share(e)))
    return "\n".join(rows)


def table_throughput(res):
    rows = ["| target | concurrency | requests | wall s | successful/s | "
            "errors | error rate | p50 ms | p95 ms | statuses | warm sandbox |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|"]
    for level in res.get("throughput", []):
        s = summarize_throughput(level)
        label = ("isobox `/execute`" if s["target"] == "execute"
                 else "`docker run --rm` loop")
        rows.append("| %s | %d | %d | %.1f | %s | %d | %s | %s | %s | %s | %s |" % (
            label, s["concurrency"], s["n"], s["wall_s"],
            "–" if s["ok_rate"] is None else "%.2f" % s["ok_rate"],
            s["n"] - s["ok"],
            "–" if s["error_rate"] is None else "%.1f %%" % (
                100 * s["error_rate"]),
            ms(s["p50"]), ms(s["p95"]),
            ", ".join("%s×%d" % (k, v) for k, v in sorted(
                s["statuses"].items())),
            warm_share(summarize(level["samples"]))
            if s["target"] == "execute" else "–"))
    return "\n".join(rows)


def tables(res):
    parts = [
        "### Python `print(42)`: latency in ms (client wall time)",
        "", table_python(res), "",
        "### Hello world per language: p50 in ms", "", table_languages(res),
        "", "### Throughput (hello world, python)", "", table_throughput(res),
    ]
    return "\n".join(parts)
