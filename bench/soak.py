#!/usr/bin/python3
"""bench/soak.py - a soak test of isobox: many mixed executions at once, then
checks that nothing leaked and that the service's processes stayed flat.

Workload (--count executions, default 1000, --concurrency clients, default 8),
a deterministic mix (--seed) of:
  normal          python or bash computing a known answer (JSON)
  sse             the same over Server-Sent Events, read to the end
  sse_disconnect  a stream whose program prints once and sleeps 20 s: the
                  client reads the first event and drops the connection
  disconnect      a plain JSON request whose program sleeps 2 s: the client
                  drops the connection after 0.5 s, before any answer (the
                  service notices only when it answers; the sandbox must
                  still be removed)
  timeout         an infinite loop, wallTimeMs 1000: must be timedOut
  oom             allocating without end, memoryBytes 64 MiB: must be oomKilled
  forkbomb        :(){ :|:& };: (bash) or an os.fork() loop (python) with
                  pids 16, wallTimeMs 2000: HTTP 200, contained
  flood           an endless writer, outputBytes 8192: truncated, exactly 8192

After a warm-up of 10 % of the runs the soak pauses, lets the service settle,
touches every worker thread (concurrent GET /readyz), and samples every
isobox.fcgi process (RssAnon and VmRSS from /proc/PID/status, the count of /proc/PID/fd);
it samples again the same way at the end. Then it asserts:
  - every response was well-formed: JSON with the contract's fields and the
    outcome its kind must have, or a complete SSE stream ending in `done` or
    `error` (a dropped stream only needs its first event);
  - zero isobox containers of this soak's requests are left (by their
    isobox.request label; with a private deployment, also none of its
    processes' except idle warm-pool sandboxes, and none at all once it is
    stopped);
  - zero child cgroups under the slice belong to this soak's containers;
  - zero temporary files left: no new /tmp/isobox* entry and no new file in
    the service's run_dir between the warm-up and the end;
  - each isobox.fcgi's RssAnon grew by less than 5 % + 1 MiB (--allow-kb: the
    allocator's warm-up as worker threads serve their first requests, ~0.5 MiB
    measured) and its fd count by less than 5 % from the
    warm-up sample to the end, and no process exited (lighttpd respawning a
    crashed process would show as a vanished pid and a new one; both are
    reported).
It prints a summary and exits 1 on any violation (2 on a usage or set-up
error).

Target: by default a PRIVATE deployment (tests/e2e/helpers/isobox_deploy.py:
its own lighttpd on a free 127.0.0.1 port spawning --procs isobox.fcgi, with
the per-address rate limit lifted, --slots sandboxes at once and a warm pool
for python), because the shipped config's rate limit (30/min) would answer
most of a soak with 429. --url soaks a running service instead (its rate
limit must be lifted, as in scripts/test's config); its isobox.fcgi processes
are found as the children of the process listening on the URL's port.

  bench/soak.py                          # 1000 runs, 8 at a time, private
  bench/soak.py --count 200              # the bounded size tests/security runs
  bench/soak.py --url http://127.0.0.1:8090 --run-dir /run/isobox

Only 127.0.0.1 is ever contacted. Requires python3-requests and docker.
"""
import argparse
import glob
import json
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

import requests

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HELPERS = os.path.join(REPO, "tests", "e2e", "helpers")
MiB = 1024 * 1024

RESULT_KEYS = {"stdout": str, "stderr": str, "exitCode": int, "timedOut": bool,
               "oomKilled": bool, "truncated": bool, "durationMs": (int, float)}
TOP_KEYS = ("language", "version", "backend", "run", "limits")

# Prefix of the violation of an OOM kill reported as a plain SIGKILL; kept
# apart (summary "oom_misreports") so a caller can tell it from the rest.
OOM_MISREPORT = "oom-misreport: "
# Prefix of a 503 sandbox_failed answer to a memory bomb (an `oom` run): the
# program brought down the sandbox itself (gVisor's Sentry died) instead of
# being stopped by its limits. Kept apart as "sandbox_crashes". A fork
# bomb's 503 is a plain violation (THREAT_MODEL 8.8 is fixed).
SANDBOX_CRASH = "sandbox-crash: "

# How far past its wall limit a run may be reported stopped and still count
# as contained. Killing a sandbox full of processes under ptrace on a busy
# 2-core host has taken 2.7 s (a fork bomb at 2 s wall reported 4.7 s).
CONTAIN_SLACK_MS = 6000

KIND_WEIGHTS = [("normal", 24), ("sse", 10), ("sse_disconnect", 10), ("disconnect", 6),
                ("timeout", 10), ("oom", 10), ("forkbomb", 10), ("flood", 20)]


# --------------------------------------------------------------------------
# the workload


def make_job(kind, rng):
    """(request body, streamed?, check(doc) -> error string or None)."""
    if kind in ("normal", "sse"):
        n = rng.randrange(1, 100000)
        if rng.random() < 0.5:
            body = {"language": "python", "code": "import sys\nprint(sum(range(int(sys.argv[1]))))",
                    "args": [str(n)]}
        else:
            body = {"language": "bash", "code": 'echo $(( $1 * ($1 - 1) / 2 ))', "args": [str(n)]}
        want = "%d\n" % (n * (n - 1) // 2)

        def check(doc, want=want):
            r = doc["run"]
            if r["stdout"] != want or r["exitCode"] != 0 or r["timedOut"]:
                return "expected %r exit 0, got %r exit %s" % (want, r["stdout"][:80], r["exitCode"])
            return None
        return body, kind == "sse", check
    if kind == "sse_disconnect":
        body = {"language": "python", "limits": {"wallTimeMs": 25000},
                "code": "import time\nprint('first', flush=True)\ntime.sleep(20)\nprint('late')"}
        return body, True, None
    if kind == "disconnect":
        body = {"language": "python", "limits": {"wallTimeMs": 3000},
                "code": "import time\ntime.sleep(2)\nprint('late')"}
        return body, False, None
    if kind == "timeout":
        body = {"language": "python", "code": "while True:\n    pass\n",
                "limits": {"wallTimeMs": 1000}}

        def check(doc):
            r = doc["run"]
            if not r["timedOut"] or r["exitCode"] != 137:
                return "expected timedOut, got %s" % short(r)
            # A containment bound, not a speed claim: the kill lands well
            # inside it even on a loaded 2-core host; a run that escaped the
            # kill would last until the sandbox's backstop.
            if r["durationMs"] > 1000 + CONTAIN_SLACK_MS:
                return "timed out only after %s ms" % r["durationMs"]
            return None
        return body, False, check
    if kind == "oom":
        body = {"language": "python", "limits": {"memoryBytes": 64 * MiB, "wallTimeMs": 15000},
                "code": ("b = []\nwhile True:\n    b.append(bytearray(8 << 20))\n"
                         "    for i in range(0, 8 << 20, 4096): b[-1][i] = 1\n")}

        def check(doc):
            r = doc["run"]
            if not r["oomKilled"] and r["signal"] == "SIGKILL" and not r["timedOut"]:
                return OOM_MISREPORT + "SIGKILL reported without oomKilled: %s" % short(r)
            if not r["oomKilled"] or r["timedOut"]:
                return "expected oomKilled, got %s" % short(r)
            return None
        return body, False, check
    if kind == "forkbomb":
        if rng.random() < 0.5:
            body = {"language": "bash", "code": ":(){ :|:& };:",
                    "limits": {"pids": 16, "wallTimeMs": 2000}}
        else:
            body = {"language": "python", "limits": {"pids": 16, "wallTimeMs": 2000},
                    "code": ("import os\nwhile True:\n    try:\n        os.fork()\n"
                             "    except OSError:\n        pass\n")}

        def check(doc):
            r = doc["run"]
            if r["oomKilled"] or r["durationMs"] > 2000 + CONTAIN_SLACK_MS:
                return "fork bomb not contained: %s" % short(r)
            return None
        return body, False, check
    if kind == "flood":
        stream = rng.choice(["stdout", "stderr"])
        body = {"language": "python", "limits": {"outputBytes": 8192, "wallTimeMs": 10000},
                "code": "import sys\nwhile True:\n    sys.%s.write('x' * 1000)\n" % stream}

        def check(doc):
            r = doc["run"]
            n = len(r["stdout"]) + len(r["stderr"])
            if not r["truncated"] or n != 8192 or r["timedOut"]:
                return "expected exactly 8192 bytes truncated, got %d %s" % (n, short(r))
            return None
        return body, False, check
    raise ValueError(kind)


def short(r):
    return {k: r.get(k) for k in ("exitCode", "signal", "timedOut", "oomKilled", "truncated",
                                  "durationMs")}


def check_shape(doc):
    """The contract's response object; returns an error string or None."""
    if not isinstance(doc, dict):
        return "response is not an object"
    for k in TOP_KEYS:
        if k not in doc:
            return "response lacks %s" % k
    run = doc["run"]
    if not isinstance(run, dict):
        return "run is %r" % (run,)
    for k, t in RESULT_KEYS.items():
        if k not in run:
            return "run lacks %s" % k
        if not isinstance(run[k], t) or (t is int and isinstance(run[k], bool)):
            return "run.%s has type %s" % (k, type(run[k]).__name__)
    if "signal" not in run or not (run["signal"] is None or str(run["signal"]).startswith("SIG")):
        return "run.signal is %r" % (run.get("signal"),)
    return None


def sse_read(resp, first_only=False, max_seconds=120):
    """Parse an SSE response. Returns (events [(event, data)], complete):
    complete means the stream ended after a `done` or `error` event."""
    fp = getattr(resp.raw, "_fp", None)
    deadline = time.monotonic() + max_seconds
    buf, events, event, data = b"", [], None, []
    while time.monotonic() < deadline:
        chunk = fp.read1(65536) if fp is not None and hasattr(fp, "read1") else resp.raw.read(1)
        if not chunk:
            break
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            line = line.rstrip(b"\r").decode("utf-8")
            if line == "":
                if event is not None or data:
                    events.append((event or "message", "\n".join(data)))
                    if first_only:
                        return events, False
                event, data = None, []
            elif line.startswith(":"):
                continue
            else:
                field, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if field == "event":
                    event = value
                elif field == "data":
                    data.append(value)
    complete = bool(events) and events[-1][0] in ("done", "error")
    return events, complete


def hard_close(resp):
    sock = None
    try:
        sock = resp.raw._fp.fp.raw._sock
    except AttributeError:
        conn = getattr(resp.raw, "_connection", None)
        sock = getattr(conn, "sock", None)
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()
    resp.close()


def one(url, kind, rng_seed):
    """Run one job; returns a record dict."""
    rng = random.Random(rng_seed)
    body, streamed, check = make_job(kind, rng)
    rec = {"kind": kind, "rid": None, "status": None, "error": None, "t": None}
    t0 = time.monotonic()
    headers = {"Content-Type": "application/json"}
    if streamed:
        headers.update({"Accept": "text/event-stream", "Accept-Encoding": "identity"})
    try:
        if kind == "disconnect":
            try:
                r = requests.post(url + "/execute", data=json.dumps(body), headers=headers,
                                  timeout=(10, 0.5))
                rec["status"] = r.status_code
                rec["error"] = "answered before the client left: HTTP %d" % r.status_code
            except requests.exceptions.ReadTimeout:
                pass   # the client left; its sandbox must still go
            return rec
        r = requests.post(url + "/execute", data=json.dumps(body), headers=headers,
                          timeout=120, stream=streamed)
        rec["status"] = r.status_code
        rec["rid"] = r.headers.get("X-Request-Id")
        if r.status_code != 200:
            rec["error"] = "HTTP %d: %s" % (r.status_code, r.text[:200])
            if r.status_code == 503 and kind == "oom" and \
                    '"sandbox_failed"' in r.text:
                rec["error"] = SANDBOX_CRASH + rec["error"]
            return rec
        ctype = r.headers.get("Content-Type", "").split(";")[0].strip()
        if not streamed:
            if ctype != "application/json":
                rec["error"] = "Content-Type %s" % ctype
                return rec
            doc = json.loads(r.content.decode("utf-8"))
            rec["error"] = check_shape(doc) or (check(doc) if check else None)
            return rec
        if ctype != "text/event-stream":
            rec["error"] = "stream Content-Type %s" % ctype
            return rec
        if kind == "sse_disconnect":
            events, _ = sse_read(r, first_only=True, max_seconds=60)
            hard_close(r)
            if not events or events[0][0] != "stdout" or \
                    not json.loads(events[0][1]).get("chunk", "").startswith("first"):
                rec["error"] = "first event was %r" % (events[:1],)
            return rec
        events, complete = sse_read(r)
        r.close()
        if not complete:
            rec["error"] = "stream ended without done/error: %r" % ([e for e, _ in events][-3:],)
            return rec
        last = json.loads(events[-1][1])
        if events[-1][0] == "error":
            rec["error"] = "stream error event: %s" % (last,)
            return rec
        streamed_out = "".join(json.loads(d)["chunk"] for e, d in events if e == "stdout")
        rec["error"] = check_shape(last) or (check(last) if check else None)
        if rec["error"] is None and streamed_out != last["run"]["stdout"]:
            rec["error"] = "streamed stdout differs from done's"
        return rec
    except Exception as e:  # every failure is a recorded violation
        rec["error"] = "%s: %s" % (type(e).__name__, e)
        return rec
    finally:
        rec["t"] = time.monotonic() - t0


def run_batch(url, jobs, concurrency, records, progress=None):
    """Run jobs [(kind, seed)] with `concurrency` client threads."""
    lock = threading.Lock()
    it = iter(jobs)

    def worker():
        while True:
            with lock:
                try:
                    kind, seed = next(it)
                except StopIteration:
                    return
            rec = one(url, kind, seed)
            with lock:
                records.append(rec)
                if progress:
                    progress(len(records))

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


# --------------------------------------------------------------------------
# the host side: processes, containers, cgroups, files


def is_fcgi(pid):
    """True if pid is an isobox.fcgi (by its command name: the binary may
    have been replaced on disk meanwhile, which changes /proc/PID/exe)."""
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip() == "isobox.fcgi"
    except OSError:
        return False


def start_time(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def children_of(ppid):
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open("/proc/%s/stat" % name) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == ppid and fields[0] not in ("Z", "X"):
                out.append(int(name))
    return out


def listener_pids(port):
    """Pids holding the listening TCP socket of 127.0.0.1/0.0.0.0:port."""
    inodes = set()
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    p = line.split()
                    if p[3] == "0A" and int(p[1].rsplit(":", 1)[1], 16) == port:
                        inodes.add(p[9])
        except OSError:
            pass
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            for fd in os.listdir("/proc/%s/fd" % name):
                link = os.readlink("/proc/%s/fd/%s" % (name, fd))
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    pids.append(int(name))
                    break
        except OSError:
            continue
    return pids


def sample_proc(pid):
    """(RssAnon kB, open fd count, VmRSS kB) of pid, or None when it is
    gone. RssAnon (heap, stacks) is what a leak grows; VmRSS also counts
    the pages of the binary, its libraries and the store's LMDB maps, which
    grow as pages are first read, so it is reported, not judged."""
    try:
        with open("/proc/%d/status" % pid) as f:
            st = {l.split(":")[0]: l.split()[1] for l in f if l.startswith(("VmRSS:", "RssAnon:"))}
        return int(st["RssAnon"]), len(os.listdir("/proc/%d/fd" % pid)), int(st["VmRSS"])
    except (OSError, StopIteration, ValueError):
        return None


def docker(*args, timeout=60):
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)


def containers(label_filter="isobox.managed=1"):
    """[(id, labels)] of existing isobox containers."""
    r = docker("ps", "-a", "--no-trunc", "--filter", "label=" + label_filter,
               "--format", "{{.ID}}\t{{json .Labels}}")
    out = []
    for line in r.stdout.splitlines():
        cid, _, lab = line.partition("\t")
        labels = {}
        for kv in json.loads(lab or '""').split(","):
            k, _, v = kv.partition("=")
            labels[k] = v
        out.append((cid, labels))
    return out


class CreateWatcher:
    """Follows the engine's container create events while the soak runs
    (`docker events` only replays a short backlog, too short on a busy
    machine to ask afterwards). .matching(rids, owner_pids) gives the ids
    of isobox containers created for one of rids or by one of owner_pids."""

    def __init__(self):
        self.actors = []
        self.proc = subprocess.Popen(
            ["docker", "events", "--filter", "type=container", "--filter", "event=create",
             "--filter", "label=isobox.managed=1", "--format", "{{json .Actor}}"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                self.actors.append(json.loads(line))
            except ValueError:
                pass

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.thread.join(5)

    def matching(self, rids, owner_pids):
        ids = set()
        for actor in list(self.actors):
            a = actor.get("Attributes") or {}
            owner = (a.get("isobox.owner") or "").split(":")
            pid = int(owner[1]) if len(owner) > 1 and owner[1].isdigit() else None
            if a.get("isobox.request") in rids or (pid is not None and pid in owner_pids):
                ids.add(actor.get("ID"))
        return ids


def slice_dirs(slice_name):
    out = []
    for d in glob.glob("/sys/fs/cgroup/*/" + slice_name) + ["/sys/fs/cgroup/" + slice_name]:
        if os.path.isdir(d):
            out.append(d)
    return sorted(set(out))


def cgroup_children_of(ids, slice_name):
    out = []
    for d in slice_dirs(slice_name):
        for name in os.listdir(d):
            if os.path.isdir(os.path.join(d, name)) and any(cid in name for cid in ids):
                out.append(os.path.join(d, name))
    return out


def tree(path):
    out = set()
    for root, dirs, files in os.walk(path):
        for n in dirs + files:
            out.add(os.path.relpath(os.path.join(root, n), path))
    return out


def tmp_entries(exclude):
    return {p for p in glob.glob("/tmp/isobox*") if not any(p.startswith(e) for e in exclude)}


def foreign_deployment(p):
    """A /tmp/isobox* directory that is another isobox deployment or a
    benchmark's scratch directory (made by other tools on this machine)."""
    return os.path.isdir(p) and (glob.glob(os.path.join(p, "*", "lighttpd.conf")) or
                                 glob.glob(os.path.join(p, "lighttpd.conf")) or
                                 os.path.basename(p).startswith(("isobox-bench-", "isobox-secdev-",
                                                                  "isobox-soak-")))


# --------------------------------------------------------------------------
# the soak


class Target:
    """Where the soak sends requests, and how its processes are found."""

    def __init__(self, args):
        self.args = args
        self.dep = None
        self.tmp = None
        self.url = args.url
        self.run_dir = args.run_dir
        self.seen = set()

    def __enter__(self):
        if self.url:
            return self
        sys.path.insert(0, HELPERS)
        import isobox_deploy  # noqa: E402  (tests/e2e/helpers)
        self.tmp = tempfile.mkdtemp(prefix="isobox-soak-")
        catalogue = self.args.catalogue or isobox_deploy.base_catalogue()
        config = {"rate_per_min": 1000000, "rate_burst": 1000000,
                  "concurrency": self.args.slots, "queue_timeout_ms": 120000,
                  "pool_languages": "python", "pool_size": 2}
        self.dep = isobox_deploy.LoggedDeployment(self.tmp, catalogue, mode="bin-path",
                                                   max_procs=self.args.procs, config=config,
                                                   name="isobox")
        self.dep.start()
        self.url = self.dep.url
        self.run_dir = os.path.join(self.dep.tmp, "run")
        return self

    def fcgi_pids(self):
        """The isobox.fcgi processes serving the target now."""
        if self.dep is not None:
            pids = [c for c in children_of(self.dep.httpd.pid) if is_fcgi(c)] \
                if self.dep.httpd is not None and self.dep.httpd.poll() is None else []
            self.seen.update(pids)
            return sorted(pids)
        if self.args.fcgi_pids:
            return sorted(int(p) for p in self.args.fcgi_pids.split(","))
        port = urllib.parse.urlsplit(self.url).port or 80
        pids = []
        for lp in listener_pids(port):
            pids += [c for c in children_of(lp) if is_fcgi(c)]
            if is_fcgi(lp):
                pids.append(lp)
        self.seen.update(pids)
        return sorted(set(pids))

    def owner_pids(self):
        """Every isobox.fcgi pid of a private deployment seen so far."""
        if self.dep is None:
            return set()
        self.fcgi_pids()
        return set(self.dep.fcgi_pids) | self.seen

    def stop(self):
        """Stop a private deployment; returns its containers left after it
        stopped (which its __exit__ removes)."""
        if self.dep is None:
            return []
        sys.path.insert(0, HELPERS)
        import isobox_deploy  # noqa: E402
        pids = self.owner_pids()
        mine = {pid: start_time(pid) for pid in self.fcgi_pids()}
        self.dep.stop()
        for pid, started in mine.items():
            # lighttpd stops its children; one that lingers (same pid AND
            # same start time, so surely ours) is stopped by its pid
            if started is not None and start_time(pid) == started and is_fcgi(pid):
                isobox_deploy.stop_pid(pid)
        left = isobox_deploy.wait_containers_gone(pids, 15)
        for cid, _, _ in left:
            docker("rm", "-f", cid)
        return left

    def cleanup(self, failed=False):
        """Remove a private deployment's directory (after stop())."""
        if self.dep is not None:
            if failed:
                self.dep.dump()
            if not self.args.keep:
                subprocess.run(["rm", "-rf", self.tmp])


def quiesce(target, rids, timeout=30):
    """Wait until no container of these requests exists (after-hooks done)
    and the service is idle; returns the containers still there. With a
    private deployment it also waits for its run sandboxes of requests
    whose client left before an answer (their ids are unknown here)."""
    deadline = time.monotonic() + timeout
    owners = target.owner_pids()
    while True:
        now = containers()
        left = [c for c in now if c[1].get("isobox.request") in rids]
        running = [c for c in now if owners and c[1].get("isobox.kind") != "pool"
                   and c[1].get("isobox.owner", "").split(":")[1:2] in
                   [[str(p)] for p in owners]]
        if (not left and not running) or time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    time.sleep(2.0)
    return left


def prime_threads(url, n=64, concurrency=32):
    """Touch every FastCGI worker thread (each keeps its own engine
    connection) with concurrent /readyz requests, so later samples compare
    like with like."""
    def hit():
        try:
            requests.get(url + "/readyz", timeout=30).close()
        except requests.RequestException:
            pass
    ts = []
    for _ in range(n):
        t = threading.Thread(target=hit, daemon=True)
        ts.append(t)
        t.start()
        if len(ts) % concurrency == 0:
            for t in ts[-concurrency:]:
                t.join()
    for t in ts:
        t.join()


def take_samples(target, also=()):
    """{pid: (rss kB, fds) or None} of the target's isobox.fcgi processes now,
    and of the pids in also (None for those gone)."""
    pids = set(target.fcgi_pids()) | set(also)
    return {pid: sample_proc(pid) if pid in target.fcgi_pids() or is_fcgi(pid) else None
            for pid in pids}


def grouped(violations):
    """[(message, count)]: identical messages (up to the request id and the
    first line) counted once, in order of first appearance."""
    out, index = [], {}
    for v in violations:
        key = re.sub(r"\[(\w+) [0-9a-f]{16}\]", r"[\1]", re.sub(r"\[(\w+) None\]", r"[\1]", v))
        key = key.split("\n", 1)[0][:200]
        if key in index:
            out[index[key]][1] += 1
        else:
            index[key] = len(out)
            out.append([key if key == v.split("\n", 1)[0][:200] else v.split("\n", 1)[0][:200], 1])
    return [(k, n) for k, n in out]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--warmup", type=float, default=0.10, help="fraction of runs before the baseline sample")
    ap.add_argument("--growth", type=float, default=0.05, help="allowed RSS / fd growth (fraction)")
    ap.add_argument("--allow-kb", type=int, default=1024,
                    help="RssAnon growth allowed on top of --growth (allocator warm-up: worker "
                         "threads' first requests; 1 MiB is ~5 kB per execution at the CI size)")
    ap.add_argument("--url", help="soak this running service instead of a private deployment")
    ap.add_argument("--run-dir", default="/run/isobox", help="the service's run_dir (with --url)")
    ap.add_argument("--fcgi-pids", help="comma-separated isobox.fcgi pids (with --url, if not found)")
    ap.add_argument("--slice", default=os.environ.get("ISOBOX_CGROUP_PARENT", "isobox.slice"))
    ap.add_argument("--catalogue", default=os.environ.get("ISOBOX_SOAK_CATALOGUE"),
                    help="catalogue for the private deployment (default: the repository's)")
    ap.add_argument("--procs", type=int, default=2, help="isobox.fcgi processes (private)")
    ap.add_argument("--slots", type=int, default=None, help="sandboxes at once (private; default: --concurrency)")
    ap.add_argument("--keep", action="store_true", help="keep the private deployment's directory")
    ap.add_argument("--json", help="write the summary as JSON to this file")
    args = ap.parse_args(argv)
    if args.count < 1 or args.concurrency < 1:
        ap.error("--count and --concurrency must be positive")
    if args.url:
        host = urllib.parse.urlsplit(args.url).hostname
        if host not in ("127.0.0.1", "localhost", "::1"):
            ap.error("only a service on this machine (127.0.0.1) may be soaked")
    args.slots = args.slots or args.concurrency

    rng = random.Random(args.seed)
    kinds = [k for k, _ in KIND_WEIGHTS]
    weights = [w for _, w in KIND_WEIGHTS]
    jobs = [(kinds[i] if i < len(kinds) else rng.choices(kinds, weights)[0], rng.randrange(1 << 30))
            for i in range(args.count)]
    # 10 % by default; at least one round of the clients on small counts
    n_warm = max(1, int(args.count * args.warmup), min(args.concurrency, args.count // 2))
    summary = {"count": args.count, "concurrency": args.concurrency, "seed": args.seed,
               "violations": []}
    violations = summary["violations"]
    t_start = time.time()
    tmp_before = tmp_entries(())
    records = []

    def progress(n):
        if n % 50 == 0 or n == args.count:
            print("  %d/%d done (%.0f s)" % (n, args.count, time.time() - t_start), flush=True)

    watcher = CreateWatcher()
    target = Target(args)
    try:
        target.__enter__()
    except Exception as e:
        watcher.stop()
        print("soak: could not start the target: %s" % e, file=sys.stderr)
        return 2
    try:
        summary["url"] = target.url
        own_tmp = (target.tmp,) if target.tmp else ()
        try:
            requests.get(target.url + "/healthz", timeout=10).raise_for_status()
        except requests.RequestException as e:
            print("soak: %s does not answer: %s" % (target.url, e), file=sys.stderr)
            return 2
        pids_start = target.fcgi_pids()
        print("soak: %d executions, %d at a time, against %s (isobox.fcgi pids %s)" % (
            args.count, args.concurrency, target.url, pids_start), flush=True)

        # warm-up
        run_batch(target.url, jobs[:n_warm], args.concurrency, records, progress)
        rids = {r["rid"] for r in records if r["rid"]}
        quiesce(target, rids)
        prime_threads(target.url)
        time.sleep(1.0)
        base = {p: v for p, v in take_samples(target).items() if v}
        run_before = tree(target.run_dir) if os.path.isdir(target.run_dir) else set()
        t_base = time.time()

        # the rest
        run_batch(target.url, jobs[n_warm:], args.concurrency, records, progress)
        t_work = time.time() - t_start
        rids = {r["rid"] for r in records if r["rid"]}
        left = quiesce(target, rids)
        prime_threads(target.url)
        time.sleep(1.0)
        end = take_samples(target, also=base)
        run_after = tree(target.run_dir) if os.path.isdir(target.run_dir) else set()

        # ---- responses
        by_kind = {}
        for r in records:
            k = by_kind.setdefault(r["kind"], {"n": 0, "bad": 0, "t": []})
            k["n"] += 1
            k["t"].append(r["t"])
            if r["error"]:
                k["bad"] += 1
                violations.append("response [%s %s]: %s" % (r["kind"], r["rid"], r["error"]))
        if len(records) != args.count:
            violations.append("only %d of %d requests finished" % (len(records), args.count))
        summary["kinds"] = {k: {"n": v["n"], "bad": v["bad"],
                                "p50_s": round(sorted(v["t"])[len(v["t"]) // 2], 2),
                                "max_s": round(max(v["t"]), 2)} for k, v in by_kind.items()}
        summary["statuses"] = {}
        for r in records:
            summary["statuses"][str(r["status"])] = summary["statuses"].get(str(r["status"]), 0) + 1

        # ---- containers
        for cid, labels in left:
            violations.append("container %s of request %s left" % (cid[:12], labels.get("isobox.request")))
        owners = target.owner_pids()
        if owners:
            for cid, labels in containers():
                owner = labels.get("isobox.owner", "").split(":")
                if len(owner) > 1 and owner[1].isdigit() and int(owner[1]) in owners \
                        and labels.get("isobox.kind") != "pool" \
                        and (cid, labels) not in left:
                    violations.append("container %s (%s) of the deployment left" % (
                        cid[:12], labels.get("isobox.kind")))
        time.sleep(1.0)   # let the event stream catch up
        created = watcher.matching(rids, owners)
        live = {c[0] for c in containers()}
        summary["containers_created"] = len(created)
        cg_left = cgroup_children_of(created - live, args.slice)
        for d in cg_left:
            violations.append("cgroup %s of a removed sandbox left" % d)
        summary["cgroups_left"] = len(cg_left)

        # ---- temporary files
        new_run = sorted(run_after - run_before)
        for p in new_run:
            violations.append("new file in run_dir %s: %s" % (target.run_dir, p))
        summary["run_dir_new"] = new_run

        # ---- processes
        procs = {}
        for pid in sorted(set(base) | set(end)):
            b, e = base.get(pid), end.get(pid)
            row = {"rss_anon_kb": [b[0] if b else None, e[0] if e else None],
                   "vm_rss_kb": [b[2] if b else None, e[2] if e else None],
                   "fds": [b[1] if b else None, e[1] if e else None]}
            procs[pid] = row
            if b and not e:
                violations.append("isobox.fcgi %d exited during the soak" % pid)
            elif e and not b:
                row["note"] = "appeared after the warm-up (respawned?)"
                if pid not in pids_start:
                    violations.append("isobox.fcgi %d appeared during the soak (a respawn)" % pid)
            elif b and e:
                for name, i, allow in (("RssAnon", 0, args.allow_kb), ("fd count", 1, 0)):
                    if e[i] > b[i] * (1 + args.growth) + allow:
                        violations.append("isobox.fcgi %d %s grew %d -> %d (+%.1f%%)" % (
                            pid, name, b[i], e[i], 100.0 * (e[i] - b[i]) / b[i]))
        if not base:
            violations.append("no isobox.fcgi process found to sample")
        summary["processes"] = procs
        summary["baseline_after_s"] = round(t_base - t_start, 1)
        summary["workload_s"] = round(t_work, 1)
    finally:
        left_after_stop = target.stop()
        for cid, owner, status in left_after_stop:
            violations.append("container %s left after the deployment stopped (%s)" % (cid[:12], status))
        if target.dep is not None:
            # the stopped deployment's sandboxes (warm pool included): cgroups gone too
            time.sleep(1.0)
            gone = watcher.matching(set(), target.owner_pids()) - {c[0] for c in containers()}
            for d in cgroup_children_of(gone, args.slice):
                violations.append("cgroup %s left after the deployment stopped" % d)
        watcher.stop()
        unknown = [v for v in violations if OOM_MISREPORT not in v and SANDBOX_CRASH not in v]
        if unknown and target.dep is not None:
            args.keep = True
            print("soak: keeping the private deployment's logs in %s" % target.tmp)
        target.cleanup()

    # /tmp/isobox* last, once the private deployment's directory is gone
    new_tmp = sorted(tmp_entries(own_tmp) - tmp_before)
    foreign = [p for p in new_tmp if foreign_deployment(p)]
    for p in new_tmp:
        if p not in foreign:
            violations.append("new temporary file %s" % p)
    summary["tmp_new"] = new_tmp
    summary["tmp_foreign_ignored"] = foreign
    summary["total_s"] = round(time.time() - t_start, 1)
    summary["oom_misreports"] = [v for v in violations if OOM_MISREPORT in v]
    summary["sandbox_crashes"] = [v for v in violations if SANDBOX_CRASH in v]
    summary["other_violations"] = [v for v in violations
                                   if OOM_MISREPORT not in v and SANDBOX_CRASH not in v]

    # ---- report
    print("\nsoak summary: %d executions in %.1f s (workload %.1f s), concurrency %d" % (
        len(records), summary["total_s"], summary.get("workload_s", 0), args.concurrency))
    for k, v in sorted(summary.get("kinds", {}).items()):
        print("  %-15s n=%-4d bad=%-3d p50=%.2fs max=%.2fs" % (k, v["n"], v["bad"], v["p50_s"], v["max_s"]))
    print("  HTTP statuses: %s" % summary.get("statuses"))
    print("  containers created: %s, cgroups left: %s, new run_dir files: %d, new /tmp/isobox*: %d%s" % (
        summary.get("containers_created"), summary.get("cgroups_left"),
        len(summary.get("run_dir_new", [])), len(new_tmp) - len(foreign),
        " (+%d other deployments' dirs ignored)" % len(foreign) if foreign else ""))
    for pid, row in sorted(summary.get("processes", {}).items()):
        print("  isobox.fcgi %-7d RssAnon %s -> %s kB (VmRSS %s -> %s)   fds %s -> %s %s" % (
            pid, row["rss_anon_kb"][0], row["rss_anon_kb"][1], row["vm_rss_kb"][0],
            row["vm_rss_kb"][1], row["fds"][0], row["fds"][1], row.get("note", "")))
    if violations:
        print("\nVIOLATIONS (%d):" % len(violations))
        for v, n in grouped(violations)[:60]:
            print("  - %s%s" % ("%d x " % n if n > 1 else "", v))
    else:
        print("\nno violations")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=1, default=str)
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
