#!/usr/bin/env python3
"""bench/seccomp.py - the cost of the second wall: the same isobox build
behind two private instances, one whose runtime has runsc --oci-seccomp
(the profile of src/spec.c enforced inside gVisor) and one without it,
measured in one run, interleaved (A, B, A, B, ...) so drift hits both.

  bench/seccomp.py --with URL --without URL [--cgroup-with DIR
                   --cgroup-without DIR] [--n 30]

Rows: warm p50 (the pool's default python shape), cold p50 (limits that
skip the pool), a syscall-heavy program's in-sandbox time p50, and the
sandbox CPU per execution when each instance has its own cgroup_parent
(cpuacct.usage of DIR before and after). Writes
bench/results/seccomp-<ts>.json (bench/sections.py format).
"""
import argparse
import datetime
import json
import os
import statistics
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SYSCALLS = ("import os, time\nt = time.perf_counter()\n"
            "for _ in range(20000):\n    os.getppid()\n"
            "print(int((time.perf_counter() - t) * 1e6))\n")


def execute(url, body):
    req = urllib.request.Request(url + "/execute", json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    t = time.perf_counter()
    with urllib.request.urlopen(req, timeout=120) as r:
        doc = json.load(r)
    dt = time.perf_counter() - t
    assert doc["run"]["exitCode"] == 0, doc
    return dt, doc["run"]


def cpu_ns(d):
    if not d:
        return None
    with open(os.path.join(d, "cpuacct.usage")) as f:
        return int(f.read())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--with", dest="w", required=True)
    ap.add_argument("--without", dest="wo", required=True)
    ap.add_argument("--cgroup-with")
    ap.add_argument("--cgroup-without")
    ap.add_argument("--n", type=int, default=30)
    a = ap.parse_args()
    inst = {"with": (a.w, a.cgroup_with), "without": (a.wo, a.cgroup_without)}
    kinds = {
        "warm": {"language": "python", "code": "print(1)"},
        "cold": {"language": "python", "code": "print(1)",
                 "limits": {"tmpfsBytes": 48 * 1024 * 1024}},
        "syscalls": {"language": "python", "code": SYSCALLS,
                     "limits": {"wallTimeMs": 20000}},
    }
    res = {k: {i: [] for i in inst} for k in kinds}
    cpu = {i: [] for i in inst}
    started = datetime.datetime.now(datetime.timezone.utc)
    for name in inst:                       # one warm-up each
        execute(inst[name][0], kinds["warm"])
    for _ in range(a.n):
        for kind, body in kinds.items():
            for name, (url, cg) in inst.items():
                c0 = cpu_ns(cg)
                dt, run = execute(url, body)
                if kind == "syscalls":
                    dt = int(run["stdout"]) / 1e6
                res[kind][name].append(dt)
                if kind == "cold" and cg:
                    time.sleep(1.0)         # the container is removed
                    cpu[name].append((cpu_ns(cg) - c0) / 1e9)
    p50 = {k: {i: statistics.median(v) for i, v in d.items()} for k, d in res.items()}
    rows = []
    for kind, label in (("warm", "warm /execute p50 (python print)"),
                        ("cold", "cold /execute p50 (python print)"),
                        ("syscalls", "20k getppid() in the sandbox p50")):
        w, wo = p50[kind]["with"], p50[kind]["without"]
        rows.append({"metric": label + ", with the filter", "isobox": w,
                     "baseline_name": "same, without --oci-seccomp", "baseline": wo,
                     "unit": "s", "goal": None, "better": "lower", "issue": 21,
                     "ratio": w / wo, "headline": kind != "syscalls"})
    if cpu["with"] and cpu["without"]:
        w, wo = statistics.median(cpu["with"]), statistics.median(cpu["without"])
        rows.append({"metric": "CPU per cold execution (sandbox cgroup), with the filter",
                     "isobox": w, "baseline_name": "same, without --oci-seccomp",
                     "baseline": wo, "unit": "CPU s", "goal": None, "better": "lower",
                     "issue": 21, "ratio": w / wo, "headline": True})
    doc = {"kind": "seccomp", "title": "Seccomp inside the sandbox (cost)",
           "started": started.isoformat(timespec="seconds"),
           "host": {"cpus": os.cpu_count(), "kernel": os.uname().release},
           "command": "bench/seccomp.py --with <instance, runsc --oci-seccomp> "
                      "--without <instance, same build, runtime without it> --n %d" % a.n,
           "rows": rows,
           "notes": ["Same build, same run, requests interleaved between the two "
                     "instances; n = %d per row and instance." % a.n]}
    out = os.path.join(HERE, "results", "seccomp-%s.json"
                       % started.strftime("%Y%m%dT%H%M%SZ"))
    with open(out, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    for r in rows:
        print("%-70s %.4f vs %.4f (x%.3f)" % (r["metric"], r["isobox"], r["baseline"], r["ratio"]))
    print(out)


if __name__ == "__main__":
    main()
