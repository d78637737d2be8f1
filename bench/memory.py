#!/usr/bin/python3
"""bench/memory.py - /v1/memory against etcd and against the HTTP ceiling, in
one run: 1 KiB values, GET and durable PUT, at concurrency 1 and 16, with
p50/p99 latency and operations per second.

Targets (all on 127.0.0.1, measured with ApacheBench `ab -k`, keep-alive):
  memory GET   GET  /v1/memory/bench/k1k            (isobox through lighttpd)
  memory PUT   PUT  /v1/memory/bench/k1k            (204 once on disk)
  etcd range   POST /v3/kv/range {"key"}           (etcd's JSON gateway)
  etcd put     POST /v3/kv/put {"key","value"}     (etcd, WAL fsync per commit)
  static       GET  /bench-1k.png                   (lighttpd serving a 1 KiB
                                                      file: the HTTP ceiling)
etcd (Debian's etcd-server) is started here on free loopback ports in a
temporary data directory and stopped after the run; its defaults are
durable (the WAL is fsynced before a put is answered), so it is the trusted
durable KV to compare with. The static file is written into the document
root of the lighttpd under test (--docroot) and removed after the run.

Goals checked (issue #16): memory GET >= 2x etcd range ops/s, memory PUT
>= 1x etcd put ops/s, memory GET >= 0.5x static ops/s, at each concurrency.

Results: bench/results/memory-<UTC timestamp>.json (its own fields and the
generic ones of bench/report, which renders the section "Memory (KV)" of
docs/BENCHMARKS.md from the newest one) and a markdown table on stdout.

Usage: bench/memory.py [--url http://127.0.0.1:8090] [--docroot DIR]
                       [--requests N] [--api-key KEY]
Needs: etcd-server and apache2-utils (ab), both Debian packages.
"""

import argparse
import base64
import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import sections  # noqa: E402
VALUE = bytes((i * 37 + 11) % 256 for i in range(1024))
STATIC_NAME = "bench-1k.png"  # a top-level asset name lighttpd serves itself
CONCURRENCY = (1, 16)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def http(method, url, data=None, headers=None, timeout=10):
    req = urllib.request.Request(url, data=data, method=method,
                                 headers=headers or {})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, r.read()


def start_etcd(tmp):
    binary = shutil.which("etcd") or "/usr/bin/etcd"
    if not os.access(binary, os.X_OK):
        sys.exit("bench/memory.py: etcd is missing (apt-get install etcd-server)")
    cport, pport = free_port(), free_port()
    curl = "http://127.0.0.1:%d" % cport
    purl = "http://127.0.0.1:%d" % pport
    log = open(os.path.join(tmp, "etcd.log"), "wb")
    proc = subprocess.Popen(
        [binary, "--name", "bench", "--data-dir", os.path.join(tmp, "etcd"),
         "--listen-client-urls", curl, "--advertise-client-urls", curl,
         "--listen-peer-urls", purl, "--initial-advertise-peer-urls", purl,
         "--initial-cluster", "bench=" + purl, "--log-level", "error"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit("etcd exited: see %s" % log.name)
        try:
            http("GET", curl + "/health", timeout=2)
            return proc, curl
        except Exception:
            time.sleep(0.2)
    proc.terminate()
    sys.exit("etcd did not answer on %s" % curl)


def etcd_version():
    try:
        out = subprocess.run(["etcd", "--version"], capture_output=True,
                             text=True, timeout=10).stdout
        m = re.search(r"etcd Version: (\S+)", out)
        return m.group(1) if m else out.strip()
    except Exception:
        return None


def ab(url, concurrency, n, tmp, method="GET", body=None, ctype=None,
       headers=()):
    """Run ab; return {"ops", "p50_ms", "p99_ms", "n", "errors"}."""
    csv = os.path.join(tmp, "ab.csv")
    args = ["ab", "-q", "-k", "-n", str(n), "-c", str(concurrency),
            "-s", "30", "-e", csv]
    for h in headers:
        args += ["-H", h]
    if body is not None:
        bf = os.path.join(tmp, "ab.body")
        with open(bf, "wb") as f:
            f.write(body)
        args += ["-u" if method == "PUT" else "-p", bf, "-T", ctype]
    args.append(url)
    out = subprocess.run(args, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError("ab failed: %s %s" % (out.stdout[-500:], out.stderr[-500:]))
    rps = float(re.search(r"Requests per second:\s+([\d.]+)", out.stdout).group(1))
    # ab counts answers whose length differs from the first as "Length"
    # failures (etcd's revisions grow): only connect/receive/exception count.
    failed = 0
    m = re.search(r"\(Connect: (\d+), Receive: (\d+), Length: \d+, "
                  r"Exceptions: (\d+)\)", out.stdout)
    if m:
        failed = sum(int(x) for x in m.groups())
    m = re.search(r"Non-2xx responses:\s+(\d+)", out.stdout)
    non2xx = int(m.group(1)) if m else 0
    pct = {}
    with open(csv) as f:
        for line in f:
            p, _, t = line.strip().partition(",")
            if p.isdigit():
                pct[int(p)] = float(t)
    return {"ops": rps, "p50_ms": pct.get(50), "p99_ms": pct.get(99), "n": n,
            "errors": failed + non2xx}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", default=os.environ.get("ISOBOX_URL", "http://127.0.0.1:8090"))
    ap.add_argument("--docroot", default="/usr/local/share/isobox/www",
                    help="document root of the lighttpd under test")
    ap.add_argument("--requests", type=int, default=4000,
                    help="requests per measurement at concurrency 16 "
                         "(a quarter of it at concurrency 1)")
    ap.add_argument("--api-key", default=os.environ.get("ISOBOX_API_KEY", ""))
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    a = ap.parse_args()
    if not shutil.which("ab"):
        sys.exit("bench/memory.py: needs ab (apt-get install apache2-utils)")
    base = a.url.rstrip("/")
    if not re.match(r"^http://(127\.0\.0\.1|localhost)(:\d+)?$", base):
        sys.exit("bench/memory.py: only a loopback --url is measured")
    keyh = ("X-API-Key: " + a.api_key,) if a.api_key else ()
    tmp = tempfile.mkdtemp(prefix="isobox-bench-memory-")
    static = os.path.join(a.docroot, STATIC_NAME)
    etcd = None
    started = datetime.datetime.now(datetime.timezone.utc)
    results = []
    try:
        with open(static, "wb") as f:
            f.write(VALUE)
        etcd, eurl = start_etcd(tmp)
        k = base64.b64encode(b"bench/k1k").decode()
        put_body = json.dumps({"key": k, "value": base64.b64encode(VALUE).decode()}).encode()
        range_body = json.dumps({"key": k}).encode()
        http("POST", eurl + "/v3/kv/put", put_body, {"Content-Type": "application/json"})
        mem = base + "/v1/memory/bench/k1k"
        hdr = dict(h.split(": ", 1) for h in keyh)
        hdr["Content-Type"] = "application/octet-stream"
        st, _ = http("PUT", mem, VALUE, hdr)
        assert st == 204, st
        st, got = http("GET", mem, None, dict(h.split(": ", 1) for h in keyh))
        assert got == VALUE
        st, got = http("GET", base + "/" + STATIC_NAME)
        assert got == VALUE, "the static file is not served from --docroot"
        targets = [
            ("memory", "get", dict(url=mem, headers=keyh)),
            ("etcd", "get", dict(url=eurl + "/v3/kv/range", method="POST",
                                 body=range_body, ctype="application/json")),
            ("static", "get", dict(url=base + "/" + STATIC_NAME)),
            ("memory", "put", dict(url=mem, method="PUT", body=VALUE,
                                   ctype="application/octet-stream", headers=keyh)),
            ("etcd", "put", dict(url=eurl + "/v3/kv/put", method="POST",
                                 body=put_body, ctype="application/json")),
        ]
        for c in CONCURRENCY:
            n = a.requests if c > 1 else max(a.requests // 4, 200)
            for target, op, kw in targets:
                ab(concurrency=c, n=min(n, 200), tmp=tmp, **kw)  # warm-up
                r = ab(concurrency=c, n=n, tmp=tmp, **kw)
                r.update(target=target, op=op, concurrency=c)
                results.append(r)
                print("%-7s %-3s c=%-2d %9.0f ops/s  p50 %7.2f ms  p99 %7.2f ms  errors %d"
                      % (target, op, c, r["ops"], r["p50_ms"], r["p99_ms"], r["errors"]),
                      file=sys.stderr)
    finally:
        if etcd is not None:
            etcd.send_signal(signal.SIGTERM)
            try:
                etcd.wait(20)
            except subprocess.TimeoutExpired:
                etcd.kill()
        try:
            os.unlink(static)
        except OSError:
            pass
        shutil.rmtree(tmp, ignore_errors=True)

    def get(t, op, c):
        return next(r for r in results if (r["target"], r["op"], r["concurrency"]) == (t, op, c))

    goals = []
    for c in CONCURRENCY:
        mg, eg, sg = get("memory", "get", c), get("etcd", "get", c), get("static", "get", c)
        mp, ep = get("memory", "put", c), get("etcd", "put", c)
        goals += [
            {"goal": "GET >= 2x etcd range", "concurrency": c,
             "ratio": mg["ops"] / eg["ops"], "need": 2.0},
            {"goal": "durable PUT >= 1x etcd put", "concurrency": c,
             "ratio": mp["ops"] / ep["ops"], "need": 1.0},
            {"goal": "GET >= 0.5x static file", "concurrency": c,
             "ratio": mg["ops"] / sg["ops"], "need": 0.5},
        ]
    for g in goals:
        g["met"] = g["ratio"] >= g["need"]
    doc = {"schema": 1, "kind": "memory", "started": started.isoformat(),
           "url": base, "value_bytes": len(VALUE), "etcd_version": etcd_version(),
           "machine": {"cpus": os.cpu_count(), "kernel": platform.release()},
           "results": results, "goals": goals}
    doc.update(sections.from_memory(doc))  # title, host, params, rows, tables
    os.makedirs(a.out, exist_ok=True)
    path = os.path.join(a.out, "memory-%s.json" % started.strftime("%Y%m%dT%H%M%SZ"))
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
    print("| target | op | c | ops/s | p50 ms | p99 ms | errors |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print("| %s | %s | %d | %.0f | %.2f | %.2f | %d |" % (
            r["target"], r["op"], r["concurrency"], r["ops"], r["p50_ms"],
            r["p99_ms"], r["errors"]))
    print()
    print("| goal | c | ratio | met |")
    print("|---|---|---|---|")
    for g in goals:
        print("| %s | %d | %.2f | %s |" % (g["goal"], g["concurrency"], g["ratio"],
                                          "yes" if g["met"] else "**no**"))
    print("\nresults: %s" % os.path.relpath(path, os.path.dirname(HERE)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
