#!/usr/bin/python3
"""bench/pool_memory.py - the real memory of one warm sandbox per language,
and the pool's total against its budget.

For each language given (default: every one in GET /runtimes), one cold
request (limits {"cpus": 0.99}: no warm sandbox has that shape) is the
demand that makes the service warm one (src/pool.h); once /metrics shows it
ready and it has sat idle --settle seconds, the memory its container's
cgroup is charged (cgroup v2 memory.current, v1 memory.usage_in_bytes,
under the service's cgroup_parent) is read, next to the cap it holds in
admission (isobox_pool_memory_bytes grows by it). Prints a markdown table,
writes bench/results/pool_memory-<UTC timestamp>.json (bench/report's
generic schema).

  bench/pool_memory.py --url http://127.0.0.1:PORT python javascript ruby

Needs: root (to read the cgroups and list containers), the docker CLI,
/usr/bin/python3 with python3-requests; the service's pool_max >= 1.
"""
import argparse
import datetime
import json
import os
import subprocess
import sys
import time

import requests

HERE = os.path.dirname(os.path.abspath(__file__))


def metrics(url):
    out = {}
    for line in requests.get(url + "/metrics", timeout=10).text.splitlines():
        if line and not line.startswith("#"):
            k, _, v = line.rpartition(" ")
            try:
                out[k] = float(v)
            except ValueError:
                pass
    return out


def cgroup_bytes(cid, parent):
    for p in ("/sys/fs/cgroup/%s/%s/memory.current" % (parent, cid),
              "/sys/fs/cgroup/memory/%s/%s/memory.usage_in_bytes" % (parent, cid),
              "/sys/fs/cgroup/%s/docker-%s.scope/memory.current" % (parent, cid)):
        try:
            with open(p) as f:
                return int(f.read())
        except OSError:
            continue
    return None


def pool_containers(lang):
    r = subprocess.run(["docker", "ps", "-q", "--no-trunc", "--filter", "label=isobox.kind=pool",
                        "--filter", "label=isobox.language=%s" % lang],
                       capture_output=True, text=True, timeout=30)
    return r.stdout.split()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("languages", nargs="*")
    ap.add_argument("--url", required=True)
    ap.add_argument("--cgroup-parent", default="isobox.slice")
    ap.add_argument("--settle", type=float, default=3.0)
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    a = ap.parse_args()
    url = a.url.rstrip("/")
    rts = requests.get(url + "/runtimes", timeout=10).json()
    todo = a.languages or sorted({rt["language"] for rt in rts})
    rows = []
    for name in todo:
        rt = next((r for r in rts if r["language"] == name), None)
        if rt is None:
            sys.exit("not in /runtimes: %s" % name)
        ser = 'language="%s",version="%s"' % (name, rt["version"])
        before = set(pool_containers(name))
        requests.post(url + "/execute", json={"language": name, "version": rt["version"],
                                               "code": "", "limits": {"cpus": 0.99}},
                      timeout=a.timeout)
        t0 = time.time()
        while time.time() - t0 < a.timeout:
            if metrics(url).get("isobox_pool_language_ready{%s}" % ser, 0) >= 1:
                break
            time.sleep(0.3)
        time.sleep(a.settle)
        ids = [c for c in pool_containers(name) if c not in before] or pool_containers(name)
        used = [b for b in (cgroup_bytes(c, a.cgroup_parent) for c in ids) if b is not None]
        rows.append({"language": name, "version": rt["version"], "containers": len(ids),
                     "memory_bytes": min(used) if used else None})
        print("%s %s: %s MiB" % (name, rt["version"],
                                 "%.1f" % (rows[-1]["memory_bytes"] / 2**20) if used else "?"),
              file=sys.stderr)
    m = metrics(url)
    total = m.get("isobox_pool_memory_bytes")
    budget = m.get("isobox_pool_memory_budget_bytes")
    print("| language | version | warm sandbox memory (cgroup) |")
    print("|---|---|---|")
    for r in rows:
        print("| %s | %s | %s |" % (r["language"], r["version"],
                                    "%.1f MiB" % (r["memory_bytes"] / 2**20)
                                    if r["memory_bytes"] else "?"))
    real = sum(r["memory_bytes"] or 0 for r in rows)
    print("\nPool: %.1f MiB measured in %d warm sandboxes; caps held %.0f MiB of a "
          "%.0f MiB budget." % (real / 2**20, len(rows), (total or 0) / 2**20,
                                (budget or 0) / 2**20))
    os.makedirs(a.out, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    mib = 2 ** 20
    # bench/report's generic schema (a section and Key-numbers rows).
    doc = {"kind": "pool_memory", "title": "Warm pool memory (issue 19)",
           "started": now.isoformat(), "host": {"cpus": os.cpu_count()},
           "command": "bench/pool_memory.py " + " ".join(todo),
           "rows": [{"metric": "warm sandboxes' real memory, %d languages" % len(rows),
                     "isobox": round(real / mib, 1),
                     "baseline_name": "their caps held in admission",
                     "baseline": round((total or 0) / mib, 1), "unit": "MiB",
                     "goal": None, "better": "lower", "issue": 19, "headline": True},
                    {"metric": "warm sandboxes' caps held",
                     "isobox": round((total or 0) / mib, 1),
                     "baseline_name": "pool_memory_budget_bytes",
                     "baseline": round((budget or 0) / mib, 1), "unit": "MiB",
                     "goal": 1.0, "better": "lower", "issue": 19, "headline": True}],
           "tables": [{"caption": "one idle warm sandbox per language: its container "
                       "cgroup's memory (guest, gVisor sentry and gofer, and the "
                       "prestarted process where there is one)",
                       "header": ["language", "version", "MiB"],
                       "rows": [[r["language"], r["version"],
                                 "%.1f" % (r["memory_bytes"] / mib) if r["memory_bytes"]
                                 else "?"] for r in rows]}],
           "raw": {"rows": rows, "pool_memory_bytes": total, "budget_bytes": budget}}
    with open(os.path.join(a.out, "pool_memory-%s.json" % stamp), "w") as f:
        json.dump(doc, f, indent=1)


if __name__ == "__main__":
    main()
