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
import subprocess

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
    """Mean/max of the machine-activity samples, over the run or a phase
    (every span of that name: a phase may run once per round)."""
    act = res.get("activity") or {}
    samples = act.get("samples") or []
    if phase:
        spans = [p for p in act.get("phases", []) if p["name"] == phase]
        if not spans:
            return None
        samples = [s for s in samples
                   if any(p["t0"] <= s["t"] <= p.get("t1", 1e18) + 2
                          for p in spans)]
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


def summarize_throughput(levels):
    """One throughput level (target, concurrency) over its rounds: a level
    dict from bench/run or a list of them (the same level, one per round)."""
    if isinstance(levels, dict):
        levels = [levels]
    samples = [s for lv in levels for s in lv["samples"]]
    ok = sum(1 for s in samples if s.get("ok"))
    n = len(samples)
    wall = sum(lv.get("wall_s") or 0 for lv in levels)
    latency = summarize(samples)
    statuses = {}
    errors = {}
    for s in samples:
        key = str(s.get("status", "exit" if "exit" in s else "error"))
        statuses[key] = statuses.get(key, 0) + 1
        if not s.get("ok"):
            code = (s.get("error") or "?").split(":")[0][:60]
            k = "%s %s" % (s.get("status", ""), code)
            errors[k.strip()] = errors.get(k.strip(), 0) + 1
    # Sustained: successful completions after the first 2 x concurrency
    # (the ramp-up, and a warm pool's head start) over the time they took.
    conc = levels[0]["concurrency"]
    count, span = 0, 0.0
    for lv in levels:
        done = sorted(s["done"] for s in lv["samples"]
                      if s.get("ok") and "done" in s)
        w = 2 * conc
        if len(done) > w + 1:
            count += len(done) - w
            span += done[-1] - done[w - 1]
    cpu = [lv["cpu_s"] for lv in levels if lv.get("cpu_s") is not None]
    return {
        "target": levels[0]["target"],
        "concurrency": conc,
        "rounds": len(levels),
        "round_rates": [(sum(1 for s in lv["samples"] if s.get("ok")) /
                         lv["wall_s"]) if lv.get("wall_s") else None
                        for lv in levels],
        "n": n,
        "ok": ok,
        "wall_s": wall,
        "rate": (n / wall) if wall else None,
        "ok_rate": (ok / wall) if wall else None,
        "sustained_rate": (count / span) if span > 0 else None,
        # Host CPU-seconds per request, all processes and the kernel.
        "cpu_per_exec": (sum(cpu) / sum(len(lv["samples"]) for lv in levels
                                        if lv.get("cpu_s") is not None))
        if cpu else None,
        "error_rate": ((n - ok) / n) if n else None,
        "p50": latency.get("p50"),
        "p95": latency.get("p95"),
        # The latency summary of all rounds' samples (warm counts too).
        "latency": latency,
        "statuses": statuses,
        "errors": errors,
    }


def throughput_levels(res):
    """The throughput levels of a run, rounds merged, in first-run order."""
    groups = {}
    for lv in res.get("throughput", []):
        groups.setdefault((lv["target"], lv["concurrency"]), []).append(lv)
    return [summarize_throughput(g) for g in groups.values()]


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
    rows = ["| target | concurrency | requests | wall s | successful/s "
            "(per round) | sustained/s | host CPU-s per execution | "
            "errors | error rate | p50 ms | p95 ms | statuses | "
            "warm sandbox |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|"]
    for s in throughput_levels(res):
        label = ("isobox `/execute`" if s["target"] == "execute"
                 else "`docker run --rm` loop")
        per = ", ".join("%.2f" % r for r in s["round_rates"] if r)
        rows.append("| %s | %d | %d | %.1f | %s%s | %s | %s | %d | %s | %s "
                    "| %s | %s | %s |" % (
                        label, s["concurrency"], s["n"], s["wall_s"],
                        "–" if s["ok_rate"] is None
                        else "%.2f" % s["ok_rate"],
                        " (%s)" % per if s["rounds"] > 1 else "",
                        "–" if s["sustained_rate"] is None
                        else "%.2f" % s["sustained_rate"],
                        "–" if s["cpu_per_exec"] is None
                        else "%.3f" % s["cpu_per_exec"],
                        s["n"] - s["ok"],
                        "–" if s["error_rate"] is None else "%.1f %%" % (
                            100 * s["error_rate"]),
                        ms(s["p50"]), ms(s["p95"]),
                        ", ".join("%s×%d" % (k, v) for k, v in sorted(
                            s["statuses"].items())),
                        warm_share(s["latency"])
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


def service_seccomp(path):
    """Write to path the seccomp profile the service gives its sandboxes
    (src/spec.c; the runtime enforces it with runsc --oci-seccomp), read
    from a sandbox it made (HostConfig.SecurityOpt). Docker's default
    profile instead refuses clone3, which node and others then fail on.
    Returns path, or None when no sandbox of the service is found. Every
    sandbox is looked at: the first few may be gone by the time they are
    inspected (a pool recycles its sandboxes)."""
    try:
        ids = subprocess.run(["docker", "ps", "-aq", "--filter", "label=isobox.managed=1"],
                             capture_output=True, text=True, timeout=30).stdout.split()
        for cid in ids:
            out = subprocess.run(["docker", "inspect", "--format",
                                  "{{json .HostConfig.SecurityOpt}}", cid],
                                 capture_output=True, text=True, timeout=30).stdout
            for opt in json.loads(out or "null") or []:
                if opt.startswith("seccomp=") and opt != "seccomp=unconfined":
                    with open(path, "w") as f:
                        f.write(opt[len("seccomp="):])
                    os.chmod(path, 0o644)
                    return path
    except (OSError, ValueError, subprocess.SubprocessError):
        pass
    return None
