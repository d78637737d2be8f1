"""test_ops.py - operating isobox: keys and tenants, rate limits, capacity,
memory admission, metrics, a FastCGI process killed mid-run and the Docker
daemon restarted mid-run.

Every test runs its OWN deployment (tests/e2e/helpers/isobox_deploy.py):
lighttpd on a free 127.0.0.1 port spawning TWO isobox.fcgi processes
(max-procs 2, as lighttpd/isobox.conf does) with a temporary config whose
registry, run_dir and state_dir are temporary. Several processes share the
rate buckets, slots, admissions and metrics through run_dir, so each test
sends work concurrently to make both processes answer, and checks which
did (by the owner pid in the sandboxes' isobox.owner label, or by the
processes' write(2) counts in /proc/PID/io).

test_pool_rebuilds_after_dockerd_restart restarts a private dockerd of the
test's own under a warm pool and checks the pool rebuilds itself (new
sandboxes, warm hits again). The last test, test_shared_dockerd_restart_mid_run,
stops and restarts the shared Docker daemon (marked `disruptive`; deselect with -m "not disruptive"). It
starts dockerd again exactly as scripts/setup-host does and waits for
`docker info`, whatever happens.

Needs (Debian packages): lighttpd, prometheus (for promtool; no server is
started), docker.io + runsc as set up by scripts/setup-host.
"""
import concurrent.futures
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import pytest
import requests

from conftest import SLICE, assert_error, check_result, slice_dirs

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "helpers"))
import isobox_deploy as dep  # noqa: E402

MiB = 1024 * 1024
PROCS = 2
# Nothing but the behaviour under test may refuse a request.
ROOMY = {"rate_per_min": 100000, "rate_burst": 100000, "queue_timeout_ms": 60000}
# A body that passes authentication and the rate limit, then fails at once
# (400 unknown_language) without starting a sandbox.
CHEAP = {"language": "no-such-language", "code": "x"}


@pytest.fixture(scope="module", autouse=True)
def _prerequisites():
    if not os.access(dep.FCGI_BIN, os.X_OK):
        pytest.fail("%s is missing: run scripts/quickstart (make install)" % dep.FCGI_BIN)
    if dep.lighttpd_binary() is None:
        pytest.fail("lighttpd is not installed (Debian package lighttpd)")


@pytest.fixture
def tmp_root():
    d = tempfile.mkdtemp(prefix="isobox-ops-")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def deploy(tmp, config=None, name="isobox", env=None):
    """A private deployment with PROCS isobox.fcgi processes spawned by
    lighttpd, the warm pool off, and ROOMY limits under config."""
    cat = os.path.join(tmp, "catalogue")
    os.makedirs(cat, exist_ok=True)
    shutil.copy(dep.base_catalogue(), os.path.join(cat, "languages.yaml"))
    cfg = dict(ROOMY)
    cfg.update({"pool_languages": ""})
    cfg.update(config or {})
    return dep.LoggedDeployment(tmp, cat, mode="bin-path", max_procs=PROCS, config=cfg,
                                name=name, env=env)


class Call:
    """One HTTP exchange: status, headers, parsed JSON (or None), times."""

    def __init__(self, resp, t0, t1, exc=None):
        self.t0, self.t1, self.exc = t0, t1, exc
        self.status = resp.status_code if resp is not None else None
        self.headers = dict(resp.headers) if resp is not None else {}
        self.text = resp.text if resp is not None else repr(exc)
        self.resp = resp
        try:
            self.json = resp.json() if resp is not None else None
        except ValueError:
            self.json = None

    @property
    def rid(self):
        return self.headers.get("X-Request-Id")

    @property
    def error(self):
        return (self.json or {}).get("error") if isinstance(self.json, dict) else None

    def __repr__(self):
        return "<%s %s %.2fs %s>" % (self.status, self.error or "", self.t1 - self.t0,
                                     self.text[:200].strip())


def post(d, body, headers=None, timeout=90, path="/execute"):
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    t0 = time.monotonic()
    try:
        r = requests.post(d.url + path, data=json.dumps(body), headers=h, timeout=timeout)
    except requests.RequestException as e:
        return Call(None, t0, time.monotonic(), e)
    return Call(r, t0, time.monotonic())


def parallel(fns, workers=None):
    """Run the callables at (nearly) the same moment; return their results
    in order."""
    workers = workers or len(fns)
    barrier = threading.Barrier(len(fns)) if len(fns) <= workers else None

    def wrap(fn):
        if barrier is not None:
            try:
                barrier.wait(10)
            except threading.BrokenBarrierError:
                pass
        return fn()

    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as ex:
        futs = [ex.submit(wrap, fn) for fn in fns]
        return [f.result() for f in futs]


def py(code, **limits):
    body = {"language": "python", "code": code}
    if limits:
        body["limits"] = limits
    return body


def assert_ok(call, stdout=None):
    assert call.status == 200, "HTTP %s: %s" % (call.status, call.text[:1500])
    doc = call.json
    check_result(doc["run"])
    if stdout is not None:
        assert doc["run"]["stdout"] == stdout, doc["run"]
    return doc


def retry_after(call):
    v = call.headers.get("Retry-After")
    assert v is not None, "429 without Retry-After: %r %s" % (call, call.headers)
    assert re.fullmatch(r"[0-9]+", v.strip()), "Retry-After is not an integer: %r" % v
    assert int(v) >= 1, "Retry-After %r < 1" % v
    return int(v)


def procs_of(d):
    """The deployment's isobox.fcgi processes, once each has logged that it
    is ready: a test that spreads requests over them must not start while
    one is still starting (lighttpd then sends them all to the other)."""
    pids = d.procs()
    assert len(pids) == PROCS, "expected %d isobox.fcgi processes, found %s" % (PROCS, pids)
    def missing():
        with open(d.fcgi_log, errors="replace") as f:
            said = f.read()
        return [p for p in pids if "ready: pid %d," % p not in said]

    assert dep.wait_for(lambda: not missing(), 20), "isobox.fcgi %s not ready after 20 s\n%s" % (
        missing(), dep.tail(d.fcgi_log, 20))
    return pids


def served_by(d, t0, t1):
    """Owner pids of the sandboxes the deployment created in [t0, t1]."""
    return {pid for _, pid, _ in dep.created_sandboxes(t0, t1 + 0.5)
            if pid in d.fcgi_pids}


def max_overlap(intervals):
    """Largest number of [start, end) intervals that overlap at one time."""
    pts = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals],
                 key=lambda p: (p[0], p[1]))
    cur = best = 0
    for _, k in pts:
        cur += k
        best = max(best, cur)
    return best


class Sampler(threading.Thread):
    """Samples the running sandboxes of a deployment every `every` seconds:
    samples is a list of (monotonic time, [(id, owner pid, request id)])."""

    def __init__(self, d, every=0.15):
        super().__init__(daemon=True)
        self.d, self.every = d, every
        self.samples = []
        self.stop_ev = threading.Event()

    def run(self):
        while not self.stop_ev.is_set():
            t = time.monotonic()
            self.samples.append((t, dep.running_sandboxes(self.d.fcgi_pids)))
            self.stop_ev.wait(self.every)

    def stop(self):
        self.stop_ev.set()
        self.join(30)

    def max_running(self):
        return max((len(s) for _, s in self.samples), default=0)

    def max_serving(self, answered_at):
        """Most sandboxes at one sample whose request had not been answered
        yet (answered_at: request id -> monotonic time of the answer). A
        sandbox whose answer went out is only waiting to be removed."""
        best, at = 0, None
        for t, s in self.samples:
            n = [x for x in s if answered_at.get(x[2], float("inf")) > t]
            if len(n) > best:
                best, at = len(n), (t, n)
        return best, at


# --------------------------------------------------------------------------
# 1. authentication


def test_auth_api_key(tmp_root):
    with deploy(tmp_root, {"api_key": "s3cret"}) as d:
        procs_of(d)
        t0 = time.time()
        for headers in ({}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer wrong"},
                        {"Authorization": "Basic czNjcmV0"}, {"X-API-Key": ""}):
            c = post(d, py("print(1)"), headers)
            assert c.resp is not None, c
            body = assert_error(c.resp, 401, "unauthorized")
            www = c.headers.get("WWW-Authenticate", "")
            assert www.lower().startswith("bearer"), \
                "401 without a Bearer WWW-Authenticate: %s" % c.headers
            print("%s -> 401 %s (WWW-Authenticate: %s)" % (headers, body["message"], www))
        assert not served_by(d, t0, time.time()), "a keyless request started a sandbox"

        c = post(d, py("print('key')"), {"X-API-Key": "s3cret"})
        assert_ok(c, "key\n")
        c = post(d, py("print('bearer')"), {"Authorization": "Bearer s3cret"})
        assert_ok(c, "bearer\n")

        for path in ("/healthz", "/readyz", "/runtimes", "/metrics"):
            r = d.get(path, timeout=30)
            assert r.status_code == 200, "%s without a key: %d %s" % (path, r.status_code, r.text[:300])
        for path in ("/openapi.yaml", "/llms.txt"):
            r = d.get(path, timeout=30)
            assert r.status_code != 401, "%s needs a key" % path
        # The method is checked before the key (router.c): 405, and no
        # "unauthorized" rejection counted for it.
        r = requests.delete(d.url + "/execute", timeout=30)
        assert r.status_code == 405, r.status_code
        s = parse_prom(d.get("/metrics").text)
        assert series(s, "isobox_rejections_total", reason="unauthorized") == 5, \
            [x for x in s if x[0] == "isobox_rejections_total"]


def _keys_yaml(entries):
    out = ["keys:"]
    for e in entries:
        out.append("  - name: %s" % e["name"])
        out.append("    sha256: %s" % e["sha256"])
        for k in ("concurrency", "rate_per_min", "rate_burst"):
            if k in e:
                out.append("    %s: %d" % (k, e[k]))
        if "network" in e:
            out.append("    network: %s" % ("true" if e["network"] else "false"))
        if "ceilings" in e:
            out.append("    ceilings: %s" % json.dumps(e["ceilings"]))
    return "\n".join(out) + "\n"


def _sha(key):
    return hashlib.sha256(key.encode()).hexdigest()


def test_auth_keys_file_tenants(tmp_root):
    keys = {n: "key-%s-%s" % (n, uuid.uuid4().hex) for n in
            ("alice", "solo", "capped", "nonet")}
    entries = [
        {"name": "alice", "sha256": _sha(keys["alice"])},
        {"name": "solo", "sha256": _sha(keys["solo"]), "concurrency": 1},
        {"name": "capped", "sha256": _sha(keys["capped"]), "ceilings": {"wallTimeMs": 1000}},
        {"name": "nonet", "sha256": _sha(keys["nonet"]), "network": False},
    ]
    kf = os.path.join(tmp_root, "keys.yaml")
    dep.write_atomic(kf, _keys_yaml(entries))
    os.chmod(kf, 0o600)

    def as_(name):
        return {"X-API-Key": keys[name]}

    # allow_network on: a 403 for "nonet" then comes from its key, not from
    # the server-wide switch.
    with deploy(tmp_root, {"keys_file": kf, "allow_network": True,
                           "queue_timeout_ms": 15000}) as d:
        pids = procs_of(d)
        assert_ok(post(d, py("print('alice')"), as_("alice")), "alice\n")
        c = post(d, py("print(1)"))
        assert_error(c.resp, 401, "unauthorized")

        # ceilings: asking 5000 ms gets the tenant's 1000
        c = post(d, py("print('c')", wallTimeMs=5000), as_("capped"))
        doc = assert_ok(c, "c\n")
        assert doc["limits"]["wallTimeMs"] == 1000, doc["limits"]
        c = post(d, py("import time; time.sleep(3)", wallTimeMs=5000), as_("capped"))
        doc = assert_ok(c)
        assert doc["run"]["timedOut"] is True, doc["run"]
        assert doc["run"]["durationMs"] < 2500, doc["run"]

        # network: false on the key
        c = post(d, dict(py("print(1)"), network=True), as_("nonet"))
        assert_error(c.resp, 403, "network_unavailable")

        # concurrency: 1 -> the second of two parallel 2 s runs queues (or 429)
        calls = parallel([lambda: post(d, py("import time; time.sleep(2); print('s')"),
                                       as_("solo"))] * 2)
        print("solo parallel:", calls)
        oks = [c for c in calls if c.status == 200]
        others = [c for c in calls if c.status != 200]
        for c in others:
            assert_error(c.resp, 429, "capacity")
            retry_after(c)
        assert oks, calls
        for c in oks:
            assert c.json["run"]["stdout"] == "s\n" and c.json["run"]["durationMs"] >= 1900, c
        if len(oks) == 2:
            a, b = sorted(oks, key=lambda c: c.t1)
            assert b.t1 - a.t1 >= 1.8, (
                "tenant concurrency 1: two 2 s runs answered %.2f s apart (ran in parallel)"
                % (b.t1 - a.t1))

        # revocation without restart: drop alice from the file
        dep.write_atomic(kf, _keys_yaml([e for e in entries if e["name"] != "alice"]))
        t_rev = time.monotonic()
        ok = dep.wait_for(lambda: post(d, CHEAP, as_("alice")).status == 401, 5, 0.2)
        assert ok, "alice still accepted 5 s after her key left the keys file"
        print("first 401 for the revoked key after %.1f s" % (time.monotonic() - t_rev))
        time.sleep(max(0.0, t_rev + 5.0 - time.monotonic()))
        calls = parallel([lambda: post(d, CHEAP, as_("alice"))] * 6)
        assert all(c.status == 401 for c in calls), \
            "a process still accepts the revoked key 5 s later: %s" % calls
        # the other keys still work
        assert post(d, CHEAP, as_("solo")).status == 400

        # SIGHUP forces a re-read: the same size and mtime (a poll cannot
        # see it), solo's digest replaced
        st = os.stat(kf)
        entries2 = [dict(e) for e in entries if e["name"] != "alice"]
        for e in entries2:
            if e["name"] == "solo":
                e["sha256"] = _sha("not-" + keys["solo"])
        dep.write_atomic(kf, _keys_yaml(entries2))
        os.utime(kf, ns=(st.st_atime_ns, st.st_mtime_ns))
        assert os.stat(kf).st_size == st.st_size
        for p in procs_of(d):
            os.kill(p, signal.SIGHUP)
        ok = dep.wait_for(lambda: all(c.status == 401 for c in parallel(
            [lambda: post(d, CHEAP, as_("solo"))] * 4)), 3, 0.2)
        assert ok, "solo's replaced key still accepted 3 s after SIGHUP"
        assert set(d.procs()) == set(pids), "SIGHUP restarted a process"


# --------------------------------------------------------------------------
# 2. rate limits


def test_rate_limit_shared_across_processes(tmp_root):
    with deploy(tmp_root, {"rate_per_min": 6, "rate_burst": 3}) as d:
        pids = procs_of(d)
        calls = [post(d, CHEAP) for _ in range(3)]
        assert all(c.status == 400 for c in calls), calls
        c = post(d, CHEAP)
        body = assert_error(c.resp, 429, "rate_limited")
        print("4th request: 429 %s, Retry-After %s" % (body["message"], retry_after(c)))

        # Parallel bursts land on both processes (lighttpd gives a request
        # to the least loaded one); every answer is 429 wherever it came from.
        answered = set()
        all_calls = []
        for _ in range(5):
            before = {p: dep.proc_syscw(p) for p in pids}
            burst = parallel([lambda: post(d, CHEAP)] * 8)
            after = {p: dep.proc_syscw(p) for p in pids}
            all_calls += burst
            answered |= {p for p in pids if after[p] is not None and before[p] is not None
                         and after[p] > before[p]}
            if len(answered) >= 2:
                break
        # A token comes back every 10 s: at most one may have slipped in.
        assert sum(c.status != 429 for c in all_calls) <= 1, all_calls
        for c in all_calls:
            if c.status == 429:
                assert c.error == "rate_limited", c
                retry_after(c)
        assert len(answered) >= 2, (
            "only %s of %s answered the bursts: cannot show the bucket is shared"
            % (sorted(answered), pids))
        print("%d parallel requests answered by processes %s: %d x 429" % (
            len(all_calls), sorted(answered), sum(c.status == 429 for c in all_calls)))

        # Spoofed client addresses do not get a fresh bucket (no trusted
        # proxies configured).
        for h in ({"X-Forwarded-For": "198.51.100.7"}, {"True-Client-IP": "198.51.100.8"},
                  {"X-Real-IP": "198.51.100.9"},
                  {"X-Forwarded-For": "198.51.100.10, 127.0.0.1"}):
            c = post(d, CHEAP, h)
            assert c.status == 429 and c.error == "rate_limited", (h, c)
        # the shared counters saw every refusal, whichever process made it
        n429 = 1 + sum(c.status == 429 for c in all_calls) + 4
        s = parse_prom(d.get("/metrics").text)
        assert series(s, "isobox_rejections_total", reason="rate_limited") == n429, \
            [x for x in s if x[0] == "isobox_rejections_total"]
        assert series(s, "isobox_http_requests_total", route="execute", status="429") == n429


def test_rate_limit_trusted_proxy(tmp_root):
    with deploy(tmp_root, {"rate_per_min": 6, "rate_burst": 3,
                           "trusted_proxies": "127.0.0.1/32"}) as d:
        procs_of(d)

        def burst(xff, n):
            return [post(d, CHEAP, {"X-Forwarded-For": xff}) for _ in range(n)]

        a = burst("203.0.113.10", 4)
        assert [c.status for c in a] == [400, 400, 400, 429], a
        b = burst("203.0.113.11", 4)
        assert [c.status for c in b] == [400, 400, 400, 429], b
        # a chain: the right-most untrusted hop is the client
        c = burst("203.0.113.12, 203.0.113.10", 1)
        assert c[0].status == 429, "XFF chain not read from the right: %s" % c
        c = burst("203.0.113.10, 203.0.113.12", 1)
        assert c[0].status == 400, "203.0.113.12 should have its own bucket: %s" % c
        # Without the header the client is lighttpd's REMOTE_ADDR 127.0.0.1.
        own = [post(d, CHEAP) for _ in range(4)]
        assert [x.status for x in own] == [400, 400, 400, 429], own


# --------------------------------------------------------------------------
# 3. capacity


def test_capacity_cap_across_processes(tmp_root):
    n = 30
    with deploy(tmp_root, {"concurrency": 4, "queue_timeout_ms": 3000}) as d:
        procs_of(d)
        sampler = Sampler(d)
        sampler.start()
        t0w = time.time()
        try:
            calls = parallel([lambda: post(d, py("import time; time.sleep(2); print('z')"),
                                           timeout=120)] * n)
        finally:
            sampler.stop()
        t1w = time.time()
        ok = [c for c in calls if c.status == 200]
        busy = [c for c in calls if c.status == 429]
        other = [c for c in calls if c.status not in (200, 429)]
        longest = max(c.t1 - c.t0 for c in calls)
        print("capacity: %d ok, %d 429, %d other; longest request %.1f s; "
              "max running %d" % (len(ok), len(busy), len(other), longest,
                                  sampler.max_running()))
        assert not other, other
        for c in ok:
            assert c.json["run"]["stdout"] == "z\n", c
        for c in busy:
            assert c.error == "capacity", c
            retry_after(c)
        assert len(ok) >= 4, calls
        # none hangs: queue wait (3 s) + the run, behind at most n/4 waves
        assert longest < 100, "a request took %.1f s" % longest

        answered = {c.rid: c.t1 for c in calls if c.rid}
        serving, at = sampler.max_serving(answered)
        assert serving <= 4, "%d sandboxes serving requests at once: %s" % (serving, at)
        # the engine's own view: start/die of this deployment's containers
        evs = [e for e in dep.sandbox_events(t0w, t1w + 1, ("start", "die"))
               if e[3] in d.fcgi_pids]
        starts = {e[2]: e[0] for e in evs if e[1] == "start"}
        dies = {e[2]: e[0] for e in evs if e[1] == "die"}
        iv = [(s, dies.get(cid, t1w + 1)) for cid, s in starts.items()]
        print("engine: %d sandboxes started, at most %d alive at once (sampled "
              "running: %d)" % (len(iv), max_overlap(iv), sampler.max_running()))
        assert len(starts) == len(ok), (len(starts), len(ok))
        s = parse_prom(d.get("/metrics").text)
        assert series(s, "isobox_rejections_total", reason="capacity") == len(busy), \
            [x for x in s if x[0] == "isobox_rejections_total"]
        assert series(s, "isobox_http_requests_total", route="execute", status="200") == len(ok)
        assert series(s, "isobox_sandboxes_active") == 0
        owners = {e[3] for e in evs}
        assert len(owners) >= 2, "only process(es) %s ran sandboxes" % owners
        left = dep.wait_containers_gone(d.fcgi_pids, 30)
        assert not left, left


# --------------------------------------------------------------------------
# 4. memory admission against a small temporary "slice"


class TempCgroup:
    """A temporary parent cgroup with a memory and a pids cap, for
    cgroup_parent (cgroup v1: one directory per controller, as
    scripts/setup-host makes isobox.slice for Docker's cgroupfs driver;
    v2: one directory)."""

    def __init__(self, memory, pids=4096):
        self.name = "isobox-test-%s" % uuid.uuid4().hex[:8]
        self.memory, self.pids = memory, pids
        self.v2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")
        self.made = []

    def _w(self, path, value):
        with open(path, "w") as f:
            f.write("%s\n" % value)

    def __enter__(self):
        root = "/sys/fs/cgroup"
        if self.v2:
            d = os.path.join(root, self.name)
            os.mkdir(d)
            self.made.append(d)
            for c in ("memory", "pids"):
                sub = open(os.path.join(root, "cgroup.subtree_control")).read()
                if c not in sub.split():
                    self._w(os.path.join(root, "cgroup.subtree_control"), "+" + c)
            self._w(os.path.join(d, "memory.max"), self.memory)
            self._w(os.path.join(d, "pids.max"), self.pids)
            return self
        for c in ("memory", "pids", "cpu", "cpuacct", "cpuset"):
            mnt = os.path.join(root, c)
            if not os.path.isdir(mnt):
                continue
            d = os.path.join(mnt, self.name)
            os.mkdir(d)
            self.made.append(d)
            if c == "cpuset":
                for f in ("cpuset.cpus", "cpuset.mems"):
                    self._w(os.path.join(d, f), open(os.path.join(mnt, f)).read().strip())
        self._w(os.path.join(root, "memory", self.name, "memory.limit_in_bytes"), self.memory)
        self._w(os.path.join(root, "pids", self.name, "pids.max"), self.pids)
        return self

    def dirs(self):
        """Every directory of this name in any hierarchy (the engine may
        have made more than we did)."""
        if self.v2:
            return [d for d in self.made if os.path.isdir(d)]
        return [os.path.join("/sys/fs/cgroup", c, self.name)
                for c in os.listdir("/sys/fs/cgroup")
                if os.path.isdir(os.path.join("/sys/fs/cgroup", c, self.name))]

    def oom_events(self):
        """OOM kills charged to the slice itself."""
        try:
            if self.v2:
                for line in open(os.path.join(self.made[0], "memory.events")):
                    if line.startswith("oom_kill "):
                        return int(line.split()[1])
                return 0
            p = os.path.join("/sys/fs/cgroup/memory", self.name, "memory.oom_control")
            for line in open(p):
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
        except (OSError, IndexError, ValueError):
            pass
        return 0

    def peak_memory(self):
        """The most memory the slice held at once (bytes; 0 if unknown)."""
        f = (os.path.join(self.made[0], "memory.peak") if self.v2 else
             os.path.join("/sys/fs/cgroup/memory", self.name, "memory.max_usage_in_bytes"))
        try:
            return int(open(f).read().strip())
        except (OSError, ValueError, IndexError):
            return 0

    def __exit__(self, *exc):
        deadline = time.monotonic() + 30
        left = self.dirs()
        while left and time.monotonic() < deadline:
            for d in sorted(left, key=len, reverse=True):
                for sub in os.listdir(d):
                    if os.path.isdir(os.path.join(d, sub)):
                        try:
                            os.rmdir(os.path.join(d, sub))
                        except OSError:
                            pass
                try:
                    os.rmdir(d)
                except OSError:
                    pass
            left = self.dirs()
            if left:
                time.sleep(0.5)
        assert not left, "could not remove the temporary cgroups %s" % left
        return False


def test_memory_admission(tmp_root):
    budget = 700 * MiB
    per_run = 256 * MiB + 48 * MiB  # memoryBytes + the sandbox overhead
    assert 2 * per_run <= budget < 3 * per_run
    n = 5
    with TempCgroup(budget) as cg:
        with deploy(tmp_root, {"cgroup_parent": cg.name, "pool_size": 0,
                               "concurrency": 8, "queue_timeout_ms": 20000}) as d:
            procs_of(d)
            r = d.get("/readyz")
            assert r.status_code == 200, "readyz with the temporary slice: %s" % r.text
            m = d.get("/metrics").text
            assert re.search(r"^isobox_slice_memory_limit_bytes %d$" % budget, m, re.M), \
                "the service does not see the temporary slice's cap: %s" % \
                [ln for ln in m.splitlines() if "slice" in ln]

            admitted = []
            stop = threading.Event()

            def watch():
                while not stop.is_set():
                    try:
                        t = d.get("/metrics", timeout=5).text
                        mm = re.search(r"^isobox_admitted_memory_bytes (\d+)$", t, re.M)
                        if mm:
                            admitted.append(int(mm.group(1)))
                    except requests.RequestException:
                        pass
                    stop.wait(0.2)

            w = threading.Thread(target=watch, daemon=True)
            w.start()
            sampler = Sampler(d)
            sampler.start()
            t0w = time.time()
            try:
                calls = parallel([lambda: post(
                    d, py("import time; time.sleep(2); print('m')", memoryBytes=256 * MiB),
                    timeout=120)] * n)
            finally:
                stop.set()
                sampler.stop()
                w.join(10)
            t1w = time.time()
            ok = [c for c in calls if c.status == 200]
            busy = [c for c in calls if c.status == 429]
            print("memory admission: %s; admitted bytes seen: max %s; running max %d" % (
                calls, max(admitted, default=None), sampler.max_running()))
            assert len(ok) + len(busy) == n, calls
            for c in busy:
                assert c.error == "capacity", c
                retry_after(c)
            for c in ok:
                assert c.json["run"]["oomKilled"] is False, c.json
                assert c.json["run"]["stdout"] == "m\n", c.json
                assert c.json["limits"]["memoryBytes"] == 256 * MiB, c.json["limits"]
            assert len(ok) >= 2, calls
            assert max(admitted, default=0) <= budget, admitted
            answered = {c.rid: c.t1 for c in calls if c.rid}
            serving, at = sampler.max_serving(answered)
            evs = [e for e in dep.sandbox_events(t0w, t1w + 1, ("start", "die"))
                   if e[3] in d.fcgi_pids]
            starts = {e[2]: e[0] for e in evs if e[1] == "start"}
            dies = {e[2]: e[0] for e in evs if e[1] == "die"}
            iv = [(s, dies.get(cid, t1w + 1)) for cid, s in starts.items()]
            print("engine: %d sandboxes, at most %d alive at once; serving at once: %d"
                  % (len(iv), max_overlap(iv), serving))
            assert serving <= 2, (
                "%d sandboxes of 304 MiB admitted at once under a 700 MiB slice: %s"
                % (serving, at))
            assert cg.oom_events() == 0, "the slice itself OOM-killed something"
            peak = cg.peak_memory()
            print("temporary slice %s: peak memory %.0f MiB of %d MiB" % (
                cg.name, peak / MiB, budget // MiB))
            if not cg.v2:
                assert peak > 0, "no sandbox ran under the temporary slice %s" % cg.name
            left = dep.wait_containers_gone(d.fcgi_pids, 30)
            assert not left, left
        # the deployment is stopped: its containers are gone, then the
        # cgroup is removed by TempCgroup.__exit__


# --------------------------------------------------------------------------
# 5. metrics


def parse_prom(text):
    """[(name, {label: value}, float)] of the sample lines."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)$', line)
        assert m, "not a sample line: %r" % line
        labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        out.append((m.group(1), labels, float(m.group(4))))
    return out


def series(samples, name, **labels):
    return sum(v for n, l, v in samples
               if n == name and all(l.get(k) == str(x) for k, x in labels.items()))


def test_metrics_shared_and_valid(tmp_root):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is not installed (Debian package prometheus)")
    with deploy(tmp_root, {"concurrency": 4}) as d:
        procs_of(d)
        t0w = time.time()
        work = ([py("print('ok')")] * 4
                + [py("import time; time.sleep(5)", wallTimeMs=1000)] * 2
                + [py("import sys; sys.exit(3)")] * 2)
        calls = parallel([lambda b=b: post(d, b) for b in work])
        t1w = time.time()
        for c in calls:
            assert c.status == 200, c
        outcomes = {}
        for c in calls:
            run = c.json["run"]
            o = "timeout" if run["timedOut"] else ("error" if run["exitCode"] else "ok")
            outcomes[o] = outcomes.get(o, 0) + 1
        assert outcomes == {"ok": 4, "timeout": 2, "error": 2}, outcomes
        bad = post(d, CHEAP)
        assert bad.status == 400
        owners = served_by(d, t0w, t1w)
        assert len(owners) >= 2, "only %s ran the executions" % owners

        texts = [d.get("/metrics").text for _ in range(2)]
        r = d.get("/metrics")
        assert r.status_code == 200
        ctype = r.headers.get("Content-Type", "")
        assert ctype.startswith("text/plain"), ctype
        text = r.text
        chk = subprocess.run([promtool, "check", "metrics"], input=text, text=True,
                             capture_output=True, timeout=30)
        print("promtool check metrics: rc=%d %s%s" % (chk.returncode, chk.stdout, chk.stderr))
        assert chk.returncode == 0, "promtool: %s%s" % (chk.stdout, chk.stderr)

        s = parse_prom(text)
        assert series(s, "isobox_http_requests_total", route="execute", status="200") == 8, \
            [x for x in s if x[0] == "isobox_http_requests_total"]
        assert series(s, "isobox_http_requests_total", route="execute", status="400") == 1
        for o, k in outcomes.items():
            assert series(s, "isobox_executions_total", language="python", outcome=o) == k, \
                (o, [x for x in s if x[0] == "isobox_executions_total"])
        assert series(s, "isobox_executions_total") == 8
        for fam in ("isobox_execution_duration_seconds", "isobox_queue_wait_seconds"):
            names = {n for n, _, _ in s}
            for sfx in ("_bucket", "_sum", "_count"):
                assert fam + sfx in names, "%s%s missing" % (fam, sfx)
        assert series(s, "isobox_execution_duration_seconds_bucket", le="+Inf") == 8
        assert series(s, "isobox_execution_duration_seconds_count") == 8
        # buckets are cumulative
        les = sorted(((float(l["le"]), v) for n, l, v in s
                      if n == "isobox_execution_duration_seconds_bucket"
                      and l.get("language") == "python"))
        assert all(a[1] <= b[1] for a, b in zip(les, les[1:])), les
        # the two timed-out runs alone took >= 1 s each
        assert series(s, "isobox_execution_duration_seconds_sum") >= 2.0
        for g in ("isobox_sandboxes_active", "isobox_slice_memory_limit_bytes",
                  "isobox_admitted_memory_bytes"):
            assert g in {n for n, _, _ in s}, g
        # every process renders the same shared counters
        for t in texts:
            assert series(parse_prom(t), "isobox_http_requests_total",
                          route="execute", status="200") == 8


# --------------------------------------------------------------------------
# 6. a FastCGI process SIGKILLed mid-run


HOST_LOG = "/var/log/isobox/isobox.log"


def reaper_logs(d):
    """The deployment's log and the tail of the host service's: every
    isobox.fcgi on the host sweeps the engine's dead-owner sandboxes and
    orphaned cgroups, so either may be the one that logs a removal."""
    logs = "\n".join(d.messages())
    if os.path.exists(HOST_LOG):
        with open(HOST_LOG, "rb") as f:
            f.seek(max(0, os.path.getsize(HOST_LOG) - 2000000))
            logs += "\n" + f.read().decode(errors="replace")
    return logs


def test_sigkill_mid_run_reaped(tmp_root):
    with deploy(tmp_root) as d:
        pids = procs_of(d)
        box = {}
        th = threading.Thread(target=lambda: box.setdefault(
            "c", post(d, py("import time; time.sleep(20)", wallTimeMs=20000), timeout=60)))
        th.start()
        found = dep.wait_for(lambda: dep.running_sandboxes(pids), 30, 0.2)
        assert found, "no sandbox started for the sleeping run"
        cid, victim, rid = found[0]
        dep.wait_for(lambda: False, 1.0)  # let it get into the sleep
        t_kill = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        th.join(30)
        c = box.get("c")
        assert c is not None, "the client got no answer 30 s after the SIGKILL"
        print("client after SIGKILL of %d: %r after %.1f s" % (victim, c, c.t1 - t_kill))
        assert c.status is not None and 500 <= c.status < 600 or c.exc is not None, c
        assert c.t1 - t_kill < 10, "the error took %.1f s" % (c.t1 - t_kill)

        nxt = None
        for _ in range(20):
            nxt = post(d, py("print('after')"))
            if nxt.status == 200:
                break
            time.sleep(0.5)
        assert_ok(nxt, "after\n")
        respawned = dep.wait_for(lambda: len(d.procs()) >= PROCS, 20, 0.2)
        print("processes after: %s (respawned: %s)" % (d.procs(), bool(respawned)))

        left = dep.wait_containers_gone([victim], max(1.0, 45 - (time.monotonic() - t_kill)))
        print("orphan %s gone %.1f s after the kill" % (cid[:12], time.monotonic() - t_kill))
        assert not left, "the orphaned sandbox outlived its owner by 45 s: %s" % left
        # Any isobox.fcgi on the host may sweep it first: the host's own
        # service (scripts/test starts one) as well as this deployment's.
        assert "reaped sandbox %s" % cid[:12] in reaper_logs(d), \
            "no 'reaped sandbox' log line for %s" % cid[:12]


# --------------------------------------------------------------------------
# 6b. cgroups a killed runtime left under the slice


def _fake_shim_child(args=()):
    """A `sleep` whose parent calls itself containerd-shim, as a live
    engine's sandbox process looks (its shim is its parent); the parent's
    command line ends with args (a shim's flags)."""
    prog = ("import subprocess, sys\n"
            "open('/proc/self/comm', 'w').write('containerd-shim')\n"
            "p = subprocess.Popen(['sleep', '600'])\n"
            "print(p.pid, flush=True)\n"
            "sys.stdin.read()\n"
            "p.kill()\n")
    shim = subprocess.Popen([sys.executable, "-c", prog] + list(args),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    return shim, int(shim.stdout.readline())


def _join(dirs, name, pid):
    for d in dirs:
        os.mkdir(os.path.join(d, name))
        if pid:
            with open(os.path.join(d, name, "cgroup.procs"), "w") as f:
                f.write(str(pid))


def _unjoin(dirs, names):
    """Remove the cgroups _join made (their processes are dying: up to 10 s)."""
    deadline = time.monotonic() + 10
    for name in names:
        for x in dirs:
            p = os.path.join(x, name)
            while os.path.isdir(p):
                try:
                    os.rmdir(p)
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)


def test_orphaned_sandbox_cgroups_removed(tmp_root):
    """A dockerd or shim killed mid-run never runs `runsc delete`: the
    sandbox's cgroups stay under the slice, sometimes with its processes.
    isobox removes those whose container the engine does not know, and
    nothing else: not a known container's, not one whose process is a live
    shim's child (another dockerd sharing the slice)."""
    dirs = slice_dirs()
    assert dirs, "no isobox slice on this host"
    orphan_empty = uuid.uuid4().hex + uuid.uuid4().hex
    orphan_busy = uuid.uuid4().hex + uuid.uuid4().hex
    attached = uuid.uuid4().hex + uuid.uuid4().hex
    known = dep.docker("create", "--label", "isobox.test=orphans", "isobox/bash:latest",
                       "true", check=True).stdout.strip()
    stray = subprocess.Popen(["sleep", "600"])  # its parent: this test
    shim, shim_child = _fake_shim_child()
    made = []
    try:
        with deploy(tmp_root) as d:
            for name, pid in ((orphan_empty, 0), (orphan_busy, stray.pid),
                              (attached, shim_child), (known, 0)):
                _join(dirs, name, pid)
                made.append(name)
            t0 = time.monotonic()

            def gone():
                return not any(os.path.exists(os.path.join(x, n)) for x in dirs
                               for n in (orphan_empty, orphan_busy))
            assert dep.wait_for(gone, 40, 0.25), (
                "orphaned cgroups still there after 40 s: %s" % os.listdir(dirs[0]))
            print("orphans removed %.1f s after they appeared" % (time.monotonic() - t0))
            assert stray.wait(10) == -signal.SIGKILL, "the stray process was not killed"
            # a few more sweeps leave the others alone
            time.sleep(12)
            for x in dirs:
                assert os.path.isdir(os.path.join(x, known)), "a known container's cgroup went"
                assert os.path.isdir(os.path.join(x, attached)), "a live shim's sandbox went"
            assert shim.poll() is None and dep.alive(shim_child), "a live shim's child was killed"
            logs = reaper_logs(d)
            for name in (orphan_empty, orphan_busy):
                assert "removed the cgroups of gone container %s" % name[:12] in logs, name
            assert "%s (1 processes killed)" % orphan_busy[:12] in logs
    finally:
        stray.kill()
        stray.wait()
        shim.stdin.close()
        shim.wait(10)
        _unjoin(dirs, made)
        dep.docker("rm", "-f", known)


def _shim_flags(pid):
    """{flag: value} of the -flag value pairs on process pid's command line."""
    argv = open("/proc/%d/cmdline" % pid, "rb").read().split(b"\0")
    return {a.decode().lstrip("-"): b.decode() for a, b in zip(argv, argv[1:])
            if a.startswith(b"-")}


def test_forgotten_shim_killed(tmp_root):
    """containerd may keep a task, and its shim and sandbox, after `docker
    rm -f` returned: the engine no longer lists the container, but the
    sandbox runs on under the slice, a live shim's child. isobox kills such
    a shim when it is its engine's (the -address a listed container's shim
    has, and the cgroup's container as -id) and then removes the sandbox's
    cgroups; a shim of another containerd is left alone."""
    dirs = slice_dirs()
    assert dirs, "no isobox slice on this host"
    real = dep.docker("run", "-d", "--runtime", "runsc-isobox", "--network", "none",
                      "--cgroup-parent", "/" + SLICE, "--label", "isobox.test=orphans",
                      "isobox/bash:latest", "sleep", "600", check=True).stdout.strip()
    forgotten = uuid.uuid4().hex + uuid.uuid4().hex
    foreign = uuid.uuid4().hex + uuid.uuid4().hex
    made = []
    shims = []
    try:
        procs = open(os.path.join(dirs[0], real, "cgroup.procs")).read().split()
        assert procs, "the running container's cgroup has no process"
        ppid = int(open("/proc/%s/stat" % procs[0]).read().rsplit(")", 1)[1].split()[1])
        flags = _shim_flags(ppid)
        assert flags.get("id") == real and flags.get("address"), flags
        ours, ours_child = _fake_shim_child(["-namespace", "moby", "-id", forgotten,
                                             "-address", flags["address"]])
        shims.append(ours)
        other, other_child = _fake_shim_child(["-namespace", "moby", "-id", foreign,
                                               "-address", "/run/other-engine/containerd.sock"])
        shims.append(other)
        with deploy(tmp_root) as d:
            for name, pid in ((forgotten, ours_child), (foreign, other_child)):
                _join(dirs, name, pid)
                made.append(name)
            t0 = time.monotonic()
            assert dep.wait_for(lambda: not any(os.path.exists(os.path.join(x, forgotten))
                                                for x in dirs), 40, 0.25), \
                "the forgotten shim's sandbox cgroups are still there after 40 s"
            print("forgotten sandbox removed %.1f s after it appeared" % (time.monotonic() - t0))
            assert ours.wait(10) == -signal.SIGKILL, "the forgotten shim was not killed"
            assert not dep.alive(ours_child), "the forgotten shim's sandbox process lives"
            time.sleep(12)  # a few more sweeps leave the other engine's alone
            for x in dirs:
                assert os.path.isdir(os.path.join(x, foreign)), "another engine's sandbox went"
                assert os.path.isdir(os.path.join(x, real)), "a listed container's cgroup went"
            assert other.poll() is None and dep.alive(other_child), \
                "another engine's shim or its child was killed"
            r = dep.docker("inspect", "--format", "{{.State.Status}}", real, check=True)
            assert r.stdout.strip() == "running", r.stdout
            logs = reaper_logs(d)
            assert "killed the shim (pid %d) of gone container %s" % (ours.pid, forgotten[:12]) \
                in logs
            assert "gone container %s" % foreign[:12] not in logs
    finally:
        for shim in shims:
            shim.stdin.close()
            shim.wait(10)
        _unjoin(dirs, made)
        dep.docker("rm", "-f", real)


# --------------------------------------------------------------------------
# 7. the Docker daemon restarted mid-run: first a private dockerd of the
# test's own (disturbs nobody), then - LAST - the shared one


class SharedDockerd:
    """The host's dockerd, stopped by its pid and started again the way
    scripts/setup-host starts it."""
    host = None

    def pid(self):
        return dep.dockerd_pid()

    def answers(self, timeout=10):
        return dep.docker_answers(timeout)

    def start(self, timeout=90):
        return dep.start_dockerd(timeout)


BASH_JOBS = {"long": "sleep 30", "again": "echo again"}
PY_JOBS = {"long": "import time; time.sleep(30)", "again": "print('again')"}


def test_dockerd_restart_mid_run(tmp_root, monkeypatch):
    with dep.PrivateDockerd() as pd:
        # the image of the language used, under the same ID as in images.lock
        pd.load_image("isobox/bash:latest")
        # the helpers' docker CLI calls (sandbox listings, clean-up) go there too
        monkeypatch.setenv("DOCKER_HOST", pd.host)
        with deploy(tmp_root, env={"DOCKER_HOST": pd.host}) as d:
            try:
                _dockerd_restart(d, pd, "bash", BASH_JOBS)
            finally:
                if not pd.answers(5):
                    pd.start()


def test_pool_rebuilds_after_dockerd_restart(tmp_root, monkeypatch):
    """The warm pool on a private dockerd (disturbs nobody): its sandboxes
    die with the daemon; once it is back, the pool drops the dead rows and
    refills with new sandboxes that serve warm runs."""
    def pool_ids():
        r = pd.cli("ps", "-q", "--no-trunc", "--filter", "label=isobox.kind=pool",
                   "--filter", "status=running", check=True)
        return set(r.stdout.split())

    def gauge(d, name):
        try:
            return series(parse_prom(d.get("/metrics", timeout=10).text), name)
        except requests.RequestException:
            return None

    with dep.PrivateDockerd() as pd:
        pd.load_image("isobox/bash:latest")
        monkeypatch.setenv("DOCKER_HOST", pd.host)
        with deploy(tmp_root, {"pool_languages": "bash", "pool_size": 2},
                    env={"DOCKER_HOST": pd.host}) as d:
            procs_of(d)
            assert dep.wait_for(lambda: gauge(d, "isobox_pool_ready") == 2 and
                                len(pool_ids()) == 2, 90, 0.5), (
                gauge(d, "isobox_pool_ready"), pool_ids())
            before = pool_ids()
            t0 = time.monotonic()
            pid = pd.stop()
            assert pid and not dep.alive(pid), "the private dockerd did not stop"
            assert pd.start(90)
            rebuilt = dep.wait_for(
                lambda: gauge(d, "isobox_pool_ready") == 2 and len(pool_ids()) == 2
                and not (pool_ids() & before), 120, 0.5)
            assert rebuilt, (gauge(d, "isobox_pool_ready"), pool_ids(), before)
            print("pool rebuilt %.1f s after the restart: %s -> %s" % (
                time.monotonic() - t0, sorted(x[:12] for x in before),
                sorted(x[:12] for x in pool_ids())))
            hits0 = series(parse_prom(d.get("/metrics").text),
                           "isobox_pool_claims_total", result="hit")
            c = post(d, {"language": "bash", "code": "echo warm"})
            assert_ok(c, "warm\n")
            hits1 = series(parse_prom(d.get("/metrics").text),
                           "isobox_pool_claims_total", result="hit")
            assert hits1 - hits0 == 1, (hits0, hits1)


@pytest.mark.disruptive
@pytest.mark.slow
def test_shared_dockerd_restart_mid_run(tmp_root):
    """LAST: stops the host's dockerd (every sandbox on the host dies) and
    starts it again exactly as scripts/setup-host does."""
    daemon = SharedDockerd()
    assert daemon.answers(), "Docker does not answer before the test"
    try:
        with deploy(tmp_root) as d:
            try:
                _dockerd_restart(d, daemon, "python", PY_JOBS)
            finally:
                # before the deployment's clean-up, which needs Docker
                if not daemon.answers(10):
                    daemon.start(90)
    finally:
        if not daemon.answers(10):
            daemon.start(90)
        assert daemon.answers(), "Docker does not answer after the test"


def _dockerd_restart(d, daemon, language, jobs):
    pids = procs_of(d)
    r = d.get("/readyz")
    assert r.status_code == 200, r.text
    box = {}
    th = threading.Thread(target=lambda: box.setdefault("c", post(
        d, {"language": language, "code": jobs["long"], "limits": {"wallTimeMs": 8000}},
        timeout=90)))
    th.start()
    found = dep.wait_for(lambda: dep.running_sandboxes(pids), 30, 0.2)
    assert found, "no sandbox started"
    cid = found[0][0]
    time.sleep(1)

    pid = daemon.pid()
    assert pid, "no dockerd process"
    t_stop = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    down = {}

    def readyz_503():
        try:
            x = d.get("/readyz", timeout=10)
        except requests.RequestException:
            return False
        if x.status_code == 503:
            down["r"] = x
            return True
        return False

    assert dep.wait_for(readyz_503, 30, 0.25), "/readyz stayed 200 with dockerd stopping"
    body = down["r"].json()
    assert body["ready"] is False and "docker" in body["reason"].lower(), body
    print("readyz %.1f s after SIGTERM to dockerd %d: 503 %s" % (
        time.monotonic() - t_stop, pid, body))
    gone = dep.wait_for(lambda: not dep.alive(pid), 45, 0.25)
    assert gone, "dockerd %d did not stop within 45 s" % pid
    print("dockerd stopped after %.1f s" % (time.monotonic() - t_stop))
    th.join(60)
    c = box.get("c")
    assert c is not None and c.status is not None, "running request: %r" % c
    print("running request answered %.1f s after SIGTERM: %r" % (c.t1 - t_stop, c))
    if c.status == 200:
        run = c.json["run"]
        assert run["exitCode"] != 0 or run["signal"] or run["timedOut"], (
            "the run 'succeeded' although its engine went away: %s" % run)
        print("-> a result with the sandbox killed: %s" % run)
    else:
        b = assert_error(c.resp, 503)
        assert b["error"] in ("docker_unavailable", "sandbox_failed"), b
        print("-> 503 %s" % b["error"])
    assert readyz_503(), "/readyz is not 503 while dockerd is stopped"
    c2 = post(d, {"language": language, "code": jobs["again"]}, timeout=60)
    print("execute while Docker is down: %r" % c2)
    assert c2.t1 - c2.t0 < 30, "execute with Docker down took %.1f s" % (c2.t1 - c2.t0)
    assert_error(c2.resp, 503, "docker_unavailable")

    assert daemon.start(90), "dockerd did not answer within 90 s"
    print("dockerd back after %.1f s" % (time.monotonic() - t_stop))
    back = dep.wait_for(lambda: d.get("/readyz", timeout=10).status_code == 200, 60, 0.5)
    assert back, "/readyz did not recover: %s" % d.get("/readyz").text
    print("readyz 200 again %.1f s after the SIGTERM" % (time.monotonic() - t_stop))
    ok = None
    for _ in range(30):
        ok = post(d, {"language": language, "code": jobs["again"]}, timeout=60)
        if ok.status == 200:
            break
        time.sleep(1)
    assert_ok(ok, "again\n")
    print("execute works again %.1f s after the SIGTERM" % (time.monotonic() - t_stop))
    left = dep.wait_containers_gone(d.fcgi_pids, 75)
    print("containers of the deployment left: %s (the one that ran: %s) at %.1f s"
          % (left, cid[:12], time.monotonic() - t_stop))
    assert not left, left
