#!/usr/bin/python3
"""bench/sessions.py - sessions against their baselines, in one run:

  create     POST /v1/sessions (p50)       vs  docker run --rm (gVisor) `true`
  step       exec print(42) in a live      vs  warm POST /execute print(42) and
             session (p50)                     docker exec python3 -c print(42)
  transfer   PUT and GET 64 MiB of a       vs  docker cp into and out of a
             session file (MiB/s), with        running gVisor container
             the FastCGI processes' RSS
  fork       POST .../fork of a session    (goal: p50 <= 0.05 s)
             holding 100 MiB (p50)

Goals checked (issue #14): create p50 <= 0.1x docker run; step p50 <= 1.3x
warm /execute p50 and <= 0.3x docker exec; upload and download >= 2x docker
cp throughput with the service's RSS flat; fork p50 <= 0.05 s.

The warm /execute baseline needs the service's warm pool for python
(pool_size >= 1). Containers made here are labelled isobox.test=sessions-bench
and removed at the end; sessions are deleted.

Results: bench/results/sessions-<UTC timestamp>.json (the generic schema of
bench/report, kind "sessions", with the raw samples under "results") and a markdown table on
stdout (docs/BENCHMARKS.md, section "Sessions").

Usage: bench/sessions.py [--url http://127.0.0.1:8090] [--image isobox/python:latest]
                         [--runtime runsc-isobox] [--n 20] [--fcgi-exe PATH]
                         [--transfers 10] [--only create|step|transfer|fork ...]
"""

import argparse
import datetime
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
LABEL = "isobox.test=sessions-bench"
MiB = 1024 * 1024


def p50(xs):
    return statistics.median(xs)


def p90(xs):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(0.9 * (len(xs) - 1))))]


def docker(*args, check=True, timeout=300):
    r = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError("docker %s: %s" % (" ".join(args), r.stderr.strip()))
    return r


def timed(fn, n, warm=1):
    for _ in range(warm):
        fn()
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


class Rss:
    """Sum of VmRSS (bytes) of the processes whose executable is exe,
    sampled every 20 ms in a thread."""

    def __init__(self, exe):
        self.exe = os.path.realpath(exe)
        self.samples = []
        self._stop = threading.Event()
        self._t = None

    def now(self):
        total = 0
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                if os.path.realpath("/proc/%s/exe" % pid) != self.exe:
                    continue
                with open("/proc/%s/status" % pid) as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            total += int(line.split()[1]) * 1024
            except OSError:
                pass
        return total

    def __enter__(self):
        self.samples = [self.now()]

        def loop():
            while not self._stop.wait(0.02):
                self.samples.append(self.now())

        self._t = threading.Thread(target=loop, daemon=True)
        self._t.start()
        return self

    def __exit__(self, *a):
        self._stop.set()
        self._t.join()
        self.samples.append(self.now())


class Api:
    def __init__(self, url, key=None):
        self.url = url.rstrip("/")
        self.s = requests.Session()
        self.h = {"X-API-Key": key} if key else {}

    def post(self, path, **kw):
        # A keep-alive connection the server closed while idle (between
        # benchmarks) is not a result: retry once on a fresh one.
        try:
            return self.s.post(self.url + path, **kw)
        except requests.ConnectionError:
            self.s.close()
            return self.s.post(self.url + path, **kw)

    def create(self):
        r = self.post("/v1/sessions", json={"runtime": "python"},
                      headers=self.h, timeout=60)
        assert r.status_code == 201, r.text
        return r.json()

    def hdr(self, sess):
        h = dict(self.h)
        h["X-Session-Token"] = sess["token"]
        return h

    def delete(self, sess):
        self.s.delete(self.url + "/v1/sessions/" + sess["id"], headers=self.hdr(sess),
                      timeout=60)

    def exec(self, sess, code, **limits):
        body = {"code": code}
        if limits:
            body["limits"] = limits
        r = self.s.post(self.url + "/v1/sessions/%s/exec" % sess["id"], json=body,
                        headers=self.hdr(sess), timeout=120)
        assert r.status_code == 200, r.text
        return r.json()


def bench_create(api, args):
    t = []
    for _ in range(args.n + 1):
        t0 = time.perf_counter()
        s = api.create()
        t.append(time.perf_counter() - t0)
        # Its sandbox starts in the background: let it, then delete it
        # (untimed), so the samples do not queue behind each other.
        time.sleep(1)
        api.delete(s)
    t = t[1:]

    def run():
        docker("run", "--rm", "--runtime", args.runtime, "--network", "none",
               "--label", LABEL, args.image, "true")

    base = timed(run, max(5, args.n // 2))
    return {"session_create_s": t, "docker_run_s": base}


def bench_step(api, args, rss_exe):
    sess = api.create()
    try:
        api.exec(sess, "print(0)")
        t = []
        for _ in range(args.n):
            # The same pause as between the warm /execute samples below
            # (an agent's think time): the guest has its next interpreter
            # ready, as the pool has its next sandbox.
            time.sleep(0.6)
            t0 = time.perf_counter()
            out = api.exec(sess, "print(42)")
            t.append(time.perf_counter() - t0)
            assert out["run"]["stdout"] == "42\n", out
    finally:
        api.delete(sess)

    def execute():
        r = api.s.post(api.url + "/execute", json={"language": "python", "code": "print(42)"},
                       headers=api.h, timeout=120)
        assert r.status_code == 200, r.text
        # let the pool refill so every sample is warm
        time.sleep(0.6)

    def execute_timed():
        out = []
        for _ in range(args.n):
            time.sleep(0.6)
            t0 = time.perf_counter()
            r = api.s.post(api.url + "/execute",
                           json={"language": "python", "code": "print(42)"},
                           headers=api.h, timeout=120)
            out.append(time.perf_counter() - t0)
            assert r.status_code == 200, r.text
        return out

    execute()
    warm = execute_timed()
    cid = docker("run", "-d", "--runtime", args.runtime, "--network", "none",
                 "--label", LABEL, args.image, "sleep", "3600").stdout.strip()
    try:
        def dexec():
            time.sleep(0.6)
            t0 = time.perf_counter()
            r = docker("exec", cid, "python3", "-c", "print(42)")
            dx.append(time.perf_counter() - t0)
            assert r.stdout == "42\n"

        dx = []
        for _ in range(args.n + 2):
            dexec()
        dx = dx[2:]
    finally:
        docker("rm", "-f", cid, check=False)
    return {"session_step_s": t, "warm_execute_s": warm, "docker_exec_s": dx}


def bench_transfer(api, args, rss_exe):
    """64 MiB into and out of a live session's workspace, each transfer
    alternating with docker cp of the same file into and out of a running
    gVisor container, so that load on the host weighs on both alike. Both
    sides land the download in a file (docker cp writes one); the service's
    copy is checked against the upload's sha256 after its time is taken."""
    blob = os.urandom(64 * MiB)
    digest = hashlib.sha256(blob).hexdigest()
    tmp = tempfile.mkdtemp(prefix="sessions-bench-")
    src = os.path.join(tmp, "big.bin")
    with open(src, "wb") as f:
        f.write(blob)
    cid = docker("run", "-d", "--runtime", args.runtime, "--network", "none",
                 "--label", LABEL, args.image, "sleep", "3600").stdout.strip()
    sess = api.create()
    res = {}
    try:
        api.exec(sess, "print(1)")  # a live session: its sandbox runs
        rss = Rss(rss_exe)
        ups, downs, cin, cout = [], [], [], []
        with rss:
            for i in range(args.transfers):
                t0 = time.perf_counter()
                r = api.s.put(api.url + "/v1/sessions/%s/fs" % sess["id"],
                              params={"path": "big.bin"}, data=blob,
                              headers=api.hdr(sess), timeout=300)
                ups.append(time.perf_counter() - t0)
                assert r.status_code == 200 and r.json()["sha256"] == digest, r.text
                t0 = time.perf_counter()
                docker("cp", src, "%s:/tmp/big.bin" % cid)
                cin.append(time.perf_counter() - t0)
                dst = os.path.join(tmp, "down%d.bin" % i)
                t0 = time.perf_counter()
                r = api.s.get(api.url + "/v1/sessions/%s/fs" % sess["id"],
                              params={"path": "big.bin"}, headers=api.hdr(sess),
                              timeout=300, stream=True)
                with open(dst, "wb") as f:
                    for chunk in r.iter_content(1 << 20):
                        f.write(chunk)
                downs.append(time.perf_counter() - t0)
                assert r.status_code == 200, r.status_code
                with open(dst, "rb") as f:
                    assert hashlib.sha256(f.read()).hexdigest() == digest
                os.unlink(dst)
                dst = os.path.join(tmp, "out%d.bin" % i)
                t0 = time.perf_counter()
                docker("cp", "%s:/tmp/big.bin" % cid, dst)
                cout.append(time.perf_counter() - t0)
                os.unlink(dst)
        res.update({"upload_s": ups, "download_s": downs,
                    "docker_cp_in_s": cin, "docker_cp_out_s": cout,
                    "rss_before": rss.samples[0], "rss_max": max(rss.samples),
                    "rss_after": rss.samples[-1]})
    finally:
        api.delete(sess)
        docker("rm", "-f", cid, check=False)
        subprocess.run(["rm", "-rf", tmp])
    return res


def bench_fork(api, args):
    sess = api.create()
    forks = []
    try:
        api.exec(sess, "import os\nopen('data.bin','wb').write(os.urandom(100 << 20))",
                 wallTimeMs=20000)

        def fork():
            r = api.post("/v1/sessions/%s/fork" % sess["id"],
                          headers=api.hdr(sess), timeout=60)
            assert r.status_code == 201, r.text
            forks.append(r.json())

        t = timed(fork, min(args.n, 10), warm=1)
        # the copy holds the data
        f = forks[-1]
        r = api.s.get(api.url + "/v1/sessions/%s/fs" % f["id"], params={"path": "data.bin"},
                      headers=api.hdr(f), timeout=60, stream=True)
        assert int(r.headers["Content-Length"]) == 100 << 20
        r.close()
    finally:
        time.sleep(2)
        for f in forks:
            api.delete(f)
        api.delete(sess)
    return {"fork_100mib_s": t}


def _row(metric, mine, base_name, base, unit, goal, better="lower"):
    """One row of bench/report's generic schema (issue 14's goals)."""
    row = {"metric": metric, "isobox": None if mine is None else round(mine, 2),
           "baseline_name": base_name, "baseline": None if base is None else round(base, 2),
           "unit": unit, "goal": goal, "better": better, "issue": 14}
    if mine is not None and base:
        row["ratio"] = round(mine / base, 3)
        if goal:
            row["met"] = row["ratio"] <= goal if better == "lower" else row["ratio"] >= goal
    return row


def generic_doc(r, args, started):
    """The results in bench/report's generic schema (kind "sessions"): one
    row per goal of issue 14, each beside its same-run baseline, and the
    distributions. r: what the benchmarks measured (seconds)."""
    ms = 1e3
    size = 64.0
    rows = []
    dist = []
    if "session_create_s" in r:
        rows.append(_row("session create p50", ms * p50(r["session_create_s"]),
                         "docker run --rm (gVisor) p50", ms * p50(r["docker_run_s"]), "ms", 0.1))
        dist += [("session create", r["session_create_s"]), ("docker run", r["docker_run_s"])]
    if "session_step_s" in r:
        step = ms * p50(r["session_step_s"])
        rows.append(_row("session step print(42) p50", step, "warm /execute p50",
                         ms * p50(r["warm_execute_s"]), "ms", 1.3))
        rows.append(_row("session step print(42) p50", step, "docker exec p50",
                         ms * p50(r["docker_exec_s"]), "ms", 0.3))
        dist += [("session step", r["session_step_s"]), ("warm /execute", r["warm_execute_s"]),
                 ("docker exec", r["docker_exec_s"])]
    if "upload_s" in r:
        rows.append(_row("upload 64 MiB", size / p50(r["upload_s"]), "docker cp in",
                         size / p50(r["docker_cp_in_s"]), "MiB/s", 2.0, "higher"))
        rows.append(_row("download 64 MiB", size / p50(r["download_s"]), "docker cp out",
                         size / p50(r["docker_cp_out_s"]), "MiB/s", 2.0, "higher"))
        dist += [("upload 64 MiB", r["upload_s"]), ("docker cp in", r["docker_cp_in_s"]),
                 ("download 64 MiB", r["download_s"]), ("docker cp out", r["docker_cp_out_s"])]
    if "fork_100mib_s" in r:
        rows.append(_row("fork of a session holding 100 MiB p50", ms * p50(r["fork_100mib_s"]),
                         "goal", 50.0, "ms", 1.0))
        dist.append(("fork 100 MiB", r["fork_100mib_s"]))
    table = {"caption": "Distributions (ms)", "header": ["measure", "n", "p50", "p90", "max"],
             "rows": [[name, str(len(xs)), "%.1f" % (ms * p50(xs)), "%.1f" % (ms * p90(xs)),
                       "%.1f" % (ms * max(xs))] for name, xs in dist if xs]}
    notes = []
    if "upload_s" in r:
        notes.append("The service's RSS (its FastCGI processes) during the transfers: "
                     "before %.1f MiB, at most %.1f MiB, after %.1f MiB."
                     % (r["rss_before"] / MiB, r["rss_max"] / MiB, r["rss_after"] / MiB))
    notes.append("loadavg_1m_at_end is the host's load: other work may have run beside "
                 "the bench.")
    cmd = "bench/sessions.py --n %d --transfers %d" % (args.n, args.transfers)
    for o in args.only or []:
        cmd += " --only " + o
    return {"kind": "sessions", "title": "Sessions (issue 14)",
            "started": started.isoformat(timespec="seconds"),
            "host": {"cpus": os.cpu_count(), "kernel": platform.release(),
                     "loadavg_1m_at_end": round(os.getloadavg()[0], 1)},
            "command": cmd, "rows": rows, "tables": [table], "notes": notes}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://127.0.0.1:8090")
    ap.add_argument("--api-key")
    ap.add_argument("--image", default="isobox/python:latest")
    ap.add_argument("--runtime", default="runsc-isobox")
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--transfers", type=int, default=10)
    ap.add_argument("--fcgi-exe", default="/usr/local/bin/isobox.fcgi")
    ap.add_argument("--only", choices=["create", "step", "transfer", "fork"],
                    action="append",
                    help="run only these benchmarks (repeatable; default all)")
    args = ap.parse_args()
    started = datetime.datetime.now(datetime.timezone.utc)
    api = Api(args.url, args.api_key)
    r = {}
    only = set(args.only or ["create", "step", "transfer", "fork"])
    if "create" in only:
        r.update(bench_create(api, args))
    if "step" in only:
        r.update(bench_step(api, args, args.fcgi_exe))
    if "transfer" in only:
        r.update(bench_transfer(api, args, args.fcgi_exe))
    if "fork" in only:
        r.update(bench_fork(api, args))
    doc = generic_doc(r, args, started)
    print("| benchmark | isobox | baseline (same run) | ratio | goal |")
    print("|---|---|---|---|---|")
    for row in doc["rows"]:
        print("| %s | %.1f %s | %s %.1f %s | %s | %s%s |" % (
            row["metric"], row["isobox"], row["unit"], row["baseline_name"], row["baseline"],
            row["unit"], row.get("ratio", "-"), "<= " if row["better"] == "lower" else ">= ",
            row["goal"]))
    if "upload_s" in r:
        print("\nFastCGI RSS during the transfers: before %.1f MiB, max %.1f MiB, after %.1f MiB"
              % (r["rss_before"] / MiB, r["rss_max"] / MiB, r["rss_after"] / MiB))
        print("upload s: %s; docker cp in s: %s" % (
            " ".join("%.3f" % x for x in r["upload_s"]),
            " ".join("%.3f" % x for x in r["docker_cp_in_s"])))
    if "session_create_s" in r and "session_step_s" in r and "fork_100mib_s" in r:
        print("p90: create %.1f ms, step %.1f ms, fork %.1f ms" % (
            1e3 * p90(r["session_create_s"]), 1e3 * p90(r["session_step_s"]),
            1e3 * p90(r["fork_100mib_s"])))
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    out = os.path.join(HERE, "results", "sessions-%s.json" % stamp)
    doc.update({"when": stamp, "url": args.url, "n": args.n, "results": r})
    with open(out, "w") as f:
        json.dump(doc, f, indent=1)
    print("\nresults: %s" % out)
    left = docker("ps", "-aq", "--filter", "label=" + LABEL).stdout.split()
    for c in left:
        docker("rm", "-f", c, check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
