#!/usr/bin/python3
"""bench/soak_state.py - a mixed soak over the stateful routes: /execute,
sessions (steps and the file API), kernels, /v1/memory and volumes, at a
given concurrency, against a private deployment with a btrfs store of its
own; then checks that nothing leaked and the service's processes stayed
flat (issue 21).

Each operation (a deterministic mix from --seed) is one small scenario that
checks its own answers and cleans up what it made:
  execute   POST /execute, a known answer
  session   create, upload, a step reading the upload, download, delete
  kernel    create a kernel session, two steps (state kept), delete
  memory    PUT, GET (bytes and ETag), compare-and-set, DELETE
  volume    create, upload, attach read-only to a session that reads it,
            delete the session and the volume
After a warm-up of 10 % it samples every isobox.fcgi (VmRSS, open fds),
and again at the end. It asserts: every operation succeeded; no container
of the deployment is left, no session, volume or memory key is listed, no
subvolume is left in the store and no qgroup beyond the store's own; each
process's RSS grew < 10 % (+ 4 MiB) and its fds by < 5 (+ 5 %); no process
exited. Summary on stdout (--json FILE writes it too); exit 1 on any
violation, 2 on a set-up error.

  bench/soak_state.py                     # the full size: 2000 ops, 8 at a time
  bench/soak_state.py --count 160         # the bounded size tests/security runs

Needs root, btrfs-progs, docker, python3-requests; only 127.0.0.1.
"""
import argparse
import concurrent.futures as cf
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid

import requests

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e", "helpers"))
import isobox_deploy as dep  # noqa: E402
import session_client as sc  # noqa: E402

T = 120
KINDS = (("execute", 3), ("session", 3), ("kernel", 1), ("memory", 4), ("volume", 1))


def ok(r, status, what):
    if r.status_code != status:
        raise AssertionError("%s: HTTP %d (want %d): %s" % (what, r.status_code, status,
                                                             r.text[:300]))
    return r


def op_execute(url, i, http):
    r = ok(http.post(url + "/execute", json={"language": "python",
                                             "code": "print(%d * 3)" % i}, timeout=T),
           200, "execute")
    if r.json()["run"]["stdout"] != "%d\n" % (i * 3):
        raise AssertionError("execute: %s" % r.text[:300])


def op_session(url, i, http):
    s = sc.new_session(url)
    try:
        data = os.urandom(4096 + i % 1000)
        ok(s.put("in/%d.bin" % i, data), 200, "upload")
        out = s.run("import hashlib\nprint(hashlib.sha256(open('in/%d.bin','rb').read())"
                    ".hexdigest())\nopen('out.txt','w').write('done %d')" % (i, i))
        if out["run"]["stdout"].strip() != hashlib.sha256(data).hexdigest():
            raise AssertionError("session step: %r" % out["run"])
        if ok(s.get("out.txt"), 200, "download").content != b"done %d" % i:
            raise AssertionError("session download")
    finally:
        ok(s.delete(), 204, "session delete")


def op_kernel(url, i, http):
    k = sc.new_session(url, type="kernel")
    try:
        k.run("n = %d" % i)
        out = k.run("n * 2")
        got = out["kernel"]["results"][0]["data"]["text/plain"]
        if got != str(i * 2):
            raise AssertionError("kernel: %r" % out["kernel"])
    finally:
        ok(k.delete(), 204, "kernel delete")


def op_memory(url, i, http):
    u = url + "/v1/memory/soak/k%d" % i
    v = os.urandom(64 + i % 512)
    ok(http.put(u, data=v, timeout=T), 204, "memory put")
    r = ok(http.get(u, timeout=T), 200, "memory get")
    e = '"%s"' % hashlib.sha256(v).hexdigest()
    if r.content != v or r.headers.get("ETag") != e:
        raise AssertionError("memory get: bytes or ETag")
    ok(http.put(u, data=b"2", headers={"If-Match": e}, timeout=T), 204, "memory cas")
    ok(http.put(u, data=b"3", headers={"If-Match": e}, timeout=T), 412, "memory stale cas")
    ok(http.delete(u, timeout=T), 204, "memory delete")


def op_volume(url, i, http):
    r = ok(http.post(url + "/v1/volumes", json={"name": "soak-%d-%s" % (i, uuid.uuid4().hex[:6]),
                                                "sizeBytes": 8 << 20}, timeout=T),
           201, "volume create")
    vid = r.json()["id"]
    try:
        ok(http.put(url + "/v1/volumes/%s/fs" % vid, params={"path": "f"},
                    data=b"vol %d" % i, timeout=T), 200, "volume upload")
        s = sc.new_session(url, volumes=[{"id": vid, "mountPath": "/mnt/v", "mode": "ro"}])
        try:
            out = s.run("print(open('/mnt/v/f').read())")
            if out["run"]["stdout"] != "vol %d\n" % i:
                raise AssertionError("volume read: %r" % out["run"])
        finally:
            ok(s.delete(), 204, "volume session delete")
    finally:
        ok(http.delete(url + "/v1/volumes/" + vid, timeout=T), 204, "volume delete")


OPS = {"execute": op_execute, "session": op_session, "kernel": op_kernel,
       "memory": op_memory, "volume": op_volume}


def sample(d):
    out = {}
    for pid in d.procs():
        try:
            with open("/proc/%d/status" % pid) as f:
                rss = [int(x.split()[1]) for x in f if x.startswith("VmRSS:")][0]
            out[pid] = {"rss_kib": rss, "fds": len(os.listdir("/proc/%d/fd" % pid))}
        except (OSError, IndexError):
            pass
    return out


def settle(url, n=16):
    """Touch every process (concurrent probes) so each has answered once."""
    with cf.ThreadPoolExecutor(n) as ex:
        list(ex.map(lambda _: requests.get(url + "/readyz", timeout=30), range(n * 4)))


def qgroups(store):
    r = subprocess.run(["btrfs", "qgroup", "show", "--raw", store], capture_output=True,
                       text=True)
    return [ln.split()[0] for ln in r.stdout.splitlines() if ln.startswith("0/")]


def run(args):
    plan = []
    rnd = random.Random(args.seed)
    kinds = [k for k, w in KINDS for _ in range(w)]
    for i in range(args.count):
        plan.append((i, rnd.choice(kinds)))
    summary = {"count": args.count, "concurrency": args.concurrency, "kinds": {},
               "violations": [], "processes": {}}
    for _, k in plan:
        summary["kinds"].setdefault(k, {"n": 0, "failed": 0})["n"] += 1
    lock = threading.Lock()
    tmp = tempfile.mkdtemp(prefix="isobox-soak-state-")
    try:
        with sc.btrfs_store(tmp, args.store_size) as store:
            cfg = {"session_max_per_tenant": 64, "session_max": 64,
                   "memory_rate_per_min": 0}
            with sc.deployment(tmp, store, cfg, procs=args.procs, name="soakstate") as d:
                url = d.url
                q0 = qgroups(store)
                local = threading.local()

                def one(item):
                    i, kind = item
                    http = getattr(local, "http", None)
                    if http is None:
                        http = local.http = requests.Session()
                    try:
                        OPS[kind](url, i, http)
                    except Exception as e:  # noqa: BLE001 - every failure is a finding
                        with lock:
                            summary["kinds"][kind]["failed"] += 1
                            summary["violations"].append("op %d %s: %s" % (
                                i, kind, "".join(traceback.format_exception_only(
                                    type(e), e)).strip()[:500]))

                warm = max(1, args.count // 10)
                t0 = time.monotonic()
                with cf.ThreadPoolExecutor(args.concurrency) as ex:
                    list(ex.map(one, plan[:warm]))
                time.sleep(2)
                settle(url)
                before = sample(d)
                with cf.ThreadPoolExecutor(args.concurrency) as ex:
                    list(ex.map(one, plan[warm:]))
                summary["elapsed_s"] = round(time.monotonic() - t0, 1)
                time.sleep(2)
                settle(url)
                after = sample(d)
                for pid, b in before.items():
                    a = after.get(pid)
                    summary["processes"][pid] = {"before": b, "after": a}
                    if a is None:
                        summary["violations"].append("isobox.fcgi %d exited" % pid)
                        continue
                    if a["rss_kib"] > b["rss_kib"] * 1.10 + 4096:
                        summary["violations"].append("isobox.fcgi %d RSS %d -> %d KiB" % (
                            pid, b["rss_kib"], a["rss_kib"]))
                    if a["fds"] > b["fds"] * 1.05 + 5:
                        summary["violations"].append("isobox.fcgi %d fds %d -> %d" % (
                            pid, b["fds"], a["fds"]))
                # nothing listed, nothing on disk, no container
                if requests.get(url + "/v1/sessions", timeout=T).json()["sessions"]:
                    summary["violations"].append("sessions left")
                if requests.get(url + "/v1/volumes", timeout=T).json()["volumes"]:
                    summary["violations"].append("volumes left")
                use = requests.get(url + "/v1/memory", timeout=T).json()["usage"]
                if use["keys"] or use["bytes"]:
                    summary["violations"].append("memory rows left: %s" % use)
                for sub in ("sessions", "volumes"):
                    p = os.path.join(store, sub)
                    left = os.listdir(p) if os.path.isdir(p) else []
                    if left:
                        summary["violations"].append("%s subvolumes left: %s" % (sub, left[:5]))
                deadline = time.monotonic() + 30
                while True:
                    extra = sorted(set(qgroups(store)) - set(q0))
                    live = [c for c in dep.containers_owned_by(d.fcgi_pids)]
                    if (not extra and not live) or time.monotonic() > deadline:
                        break
                    time.sleep(1)
                if extra:
                    summary["violations"].append("qgroups left: %s" % extra[:5])
                if live:
                    summary["violations"].append("containers left: %s" % [
                        c[0][:12] for c in live][:5])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return summary


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--procs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=21)
    ap.add_argument("--store-size", default="4G")
    ap.add_argument("--json", help="write the summary here")
    args = ap.parse_args()
    if not sc.have_btrfs():
        print("soak_state: needs root and btrfs-progs", file=sys.stderr)
        return 2
    summary = run(args)
    print(json.dumps({k: v for k, v in summary.items() if k != "processes"}, indent=1))
    for pid, p in summary["processes"].items():
        print("isobox.fcgi %s: %s -> %s" % (pid, p["before"], p["after"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=1, default=str)
    return 1 if summary["violations"] else 0


if __name__ == "__main__":
    sys.exit(main())
