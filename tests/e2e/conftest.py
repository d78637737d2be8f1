"""Shared fixtures and helpers of the isobox end-to-end tests.

The tests talk to a running service over real HTTP (lighttpd -> isobox.fcgi ->
Docker -> runsc) and, running as root on the same machine, use the docker CLI and
/sys/fs/cgroup to check that nothing is left behind.

Base URL: $ISOBOX_URL (default http://127.0.0.1:8090).

Helpers are plain functions so test modules can `from conftest import ...`;
tests/security/conftest.py loads this file and re-exports the same names.
"""
import json
import os
import socket
import subprocess
import time
import urllib.parse

import pytest
import requests

BASE_URL = os.environ.get("ISOBOX_URL", "http://127.0.0.1:8090").rstrip("/")
SLICE = os.environ.get("ISOBOX_CGROUP_PARENT", "isobox.slice")
# How long one /execute may take end to end before the client gives up.
HTTP_TIMEOUT = float(os.environ.get("ISOBOX_TEST_HTTP_TIMEOUT", "90"))
# How long execute() keeps retrying answers of 429 (rate limit, capacity).
RETRY_429_SECONDS = float(os.environ.get("ISOBOX_TEST_RETRY_429", "120"))
# Container kinds that legitimately outlive a request (a warm pool, if any).
POOL_KINDS = {"pool", "warm", "kernelpool"}
# Leak checks: "all" (default) counts every isobox container and every child
# cgroup of the slice, as on a machine where this suite runs alone (CI);
# "own" counts only containers labelled with the X-Request-Id of a request
# this suite made (isobox.request) and child cgroups whose container no
# longer exists, for machines where other isobox instances run meanwhile.
LEAK_MODE = os.environ.get("ISOBOX_TEST_LEAKS", "all")
# With "own": the deployment label (isobox.deployment) of the instance under
# test, when known (scripts/asan-e2e sets it). A child cgroup whose container
# is gone then counts only if that container was seen as this suite's (its
# request) or this deployment's: other deployments on the machine remove
# containers meanwhile, and runsc drops their cgroups a little later.
OWN_DEPLOYMENT = os.environ.get("ISOBOX_TEST_DEPLOYMENT", "")
# Container ids seen as ours (see above).
OWN_IDS = set()
# Every X-Request-Id this test process has been answered with.
SEEN_REQUEST_IDS = set()

MiB = 1024 * 1024
GiB = 1024 * MiB
TiB = 1024 * GiB


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow: takes several seconds (wall-time kills, floods, bombs)")
    config.addinivalue_line(
        "markers", "disruptive: stops and restarts shared host services (dockerd)")


# --------------------------------------------------------------------------
# HTTP helpers


def full_url(path):
    return BASE_URL + path


def execute(body, **kw):
    """POST /execute. body: a dict (sent as JSON) or raw bytes/str (sent as is,
    with Content-Type application/json unless headers say otherwise).
    kw: headers, params, stream, timeout. Returns the requests.Response."""
    headers = {"Content-Type": "application/json"}
    headers.update(kw.pop("headers", {}) or {})
    timeout = kw.pop("timeout", HTTP_TIMEOUT)
    path = kw.pop("path", "/execute")
    if isinstance(body, (bytes, bytearray, str)):
        data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    else:
        data = json.dumps(body).encode("utf-8")
    # 429 (rate limit or every slot busy) is a transient answer, not the
    # behaviour under test: wait as told by Retry-After, for a bounded time.
    deadline = time.monotonic() + RETRY_429_SECONDS
    while True:
        r = requests.post(full_url(path), data=data, headers=headers,
                          timeout=timeout, **kw)
        if r.headers.get("X-Request-Id"):
            SEEN_REQUEST_IDS.add(r.headers["X-Request-Id"])
        if r.status_code != 429 or time.monotonic() >= deadline:
            return r
        try:
            wait = float(r.headers.get("Retry-After", "1"))
        except ValueError:
            wait = 1.0
        r.close()
        time.sleep(min(max(wait, 0.2), 10.0))


def strict_json(resp):
    """Parse a response body as JSON, requiring valid UTF-8 (RFC 8259)."""
    text = resp.content.decode("utf-8")  # raises on invalid UTF-8
    return json.loads(text)


RESULT_KEYS = {"stdout", "stderr", "exitCode", "signal", "timedOut",
               "oomKilled", "truncated", "durationMs"}


def check_result(res, where="run"):
    """Assert the shape of one stage result object of the contract."""
    assert isinstance(res, dict), f"{where} is not an object: {res!r}"
    missing = RESULT_KEYS - set(res)
    assert not missing, f"{where} lacks {sorted(missing)}: {res!r}"
    assert isinstance(res["stdout"], str) and isinstance(res["stderr"], str)
    assert isinstance(res["exitCode"], int) and not isinstance(res["exitCode"], bool)
    assert res["signal"] is None or (isinstance(res["signal"], str)
                                     and res["signal"].startswith("SIG")), res["signal"]
    for k in ("timedOut", "oomKilled", "truncated"):
        assert isinstance(res[k], bool), f"{where}.{k} not a bool: {res[k]!r}"
    assert isinstance(res["durationMs"], (int, float)) and res["durationMs"] >= 0


def run_ok(body, **kw):
    """POST /execute, assert 200 and the response shape, return the parsed body."""
    r = execute(body, **kw)
    assert r.status_code == 200, f"HTTP {r.status_code}: {r.text[:2000]}"
    assert "X-Request-Id" in r.headers
    doc = strict_json(r)
    for k in ("language", "version", "backend", "run", "limits"):
        assert k in doc, f"response lacks {k}: {doc!r}"
    assert doc["backend"] == "gvisor"
    if doc["run"] is not None:
        check_result(doc["run"])
    assert isinstance(doc["limits"], dict)
    return doc


def run_code(language, code, **fields):
    """run_ok({"language": language, "code": code, **fields})["run"]."""
    body = {"language": language, "code": code}
    body.update(fields)
    doc = run_ok(body)
    assert doc["run"] is not None, doc
    return doc["run"]


def healthz_ok(timeout=10):
    r = requests.get(full_url("/healthz"), timeout=timeout)
    assert r.status_code == 200, f"/healthz -> {r.status_code}: {r.text[:500]}"
    return r


def assert_error(resp, status, code=None):
    """Assert an error response of the contract: status, JSON body with
    error/message/requestId, X-Request-Id header. Returns the body."""
    assert resp.status_code == status, \
        f"expected {status} {code or ''}, got {resp.status_code}: {resp.text[:1000]}"
    assert "X-Request-Id" in resp.headers, dict(resp.headers)
    ctype = resp.headers.get("Content-Type", "")
    assert ctype.split(";")[0].strip().lower() == "application/json", ctype
    body = strict_json(resp)
    assert isinstance(body, dict), body
    assert isinstance(body.get("error"), str) and body["error"], body
    assert isinstance(body.get("message"), str) and body["message"].strip(), body
    assert body.get("requestId") == resp.headers["X-Request-Id"], \
        f"requestId {body.get('requestId')!r} != X-Request-Id {resp.headers['X-Request-Id']!r}"
    if code is not None:
        assert body["error"] == code, f"expected error {code}, got {body}"
    return body


# --------------------------------------------------------------------------
# Server-Sent Events


def _raw_fp(resp):
    """The http.client.HTTPResponse under a streamed requests response."""
    return getattr(resp.raw, "_fp", None)


def sse_events(resp, max_seconds=120):
    """Read a streamed (stream=True) requests response as Server-Sent Events.
    Yields (event, data, arrival_time) for each dispatched event, where data is
    the joined data lines (a str) and arrival_time is time.monotonic() when the
    blank line ending the event was read. Comment lines (":...") are skipped.
    Reads whatever bytes are available (no fixed-size blocking reads) so the
    arrival times are those of the wire."""
    fp = _raw_fp(resp)
    deadline = time.monotonic() + max_seconds

    def chunks():
        if fp is not None and hasattr(fp, "read1"):
            while True:
                b = fp.read1(65536)
                if not b:
                    return
                yield b
        else:  # pragma: no cover - fallback
            yield from resp.iter_content(chunk_size=1)

    buf = b""
    event, data = None, []
    for chunk in chunks():
        now = time.monotonic()
        if now > deadline:
            raise TimeoutError("SSE stream did not end in time")
        buf += chunk
        while True:
            nl = buf.find(b"\n")
            if nl < 0:
                break
            line, buf = buf[:nl], buf[nl + 1:]
            if line.endswith(b"\r"):
                line = line[:-1]
            line = line.decode("utf-8")  # the stream must be UTF-8
            if line == "":
                if event is not None or data:
                    yield (event or "message", "\n".join(data), now)
                event, data = None, []
                continue
            if line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            if value.startswith(" "):
                value = value[1:]
            if field == "event":
                event = value
            elif field == "data":
                data.append(value)
            # id:, retry: and unknown fields are ignored
    if event is not None or data:
        # a final event without its blank line is not dispatched (SSE rules)
        pass


def stream_execute(body, via="accept", **kw):
    """Start an SSE /execute. via: "accept" (Accept: text/event-stream) or
    "query" (?stream=1). Returns the streamed response."""
    headers = {"Accept-Encoding": "identity"}
    params = None
    if via == "accept":
        headers["Accept"] = "text/event-stream"
    else:
        params = {"stream": "1"}
    headers.update(kw.pop("headers", {}) or {})
    return execute(body, headers=headers, params=params, stream=True, **kw)


def sse_collect(resp, max_seconds=120):
    """All events of a stream as a list of (event, parsed data, arrival)."""
    out = []
    for ev, data, t in sse_events(resp, max_seconds=max_seconds):
        try:
            parsed = json.loads(data)
        except ValueError:
            raise AssertionError(f"SSE {ev} event data is not JSON: {data!r}")
        out.append((ev, parsed, t))
    return out


def hard_close(resp):
    """Drop the TCP connection under a streamed response, abruptly."""
    sock = None
    conn = getattr(resp.raw, "_connection", None)
    if conn is not None:
        sock = getattr(conn, "sock", None)
    if sock is None:
        fp = _raw_fp(resp)
        try:
            sock = fp.fp.raw._sock
        except AttributeError:
            sock = None
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()
    resp.close()


# --------------------------------------------------------------------------
# Raw HTTP, for bodies requests cannot send or servers that answer early


def raw_http(method, path, body=b"", headers=None, timeout=30):
    """Send one HTTP/1.1 request over a plain socket, tolerating a server that
    answers (and closes) before the whole body is sent. Returns
    (status, {lower-case header: value}, body bytes). A 429 is retried as in
    execute()."""
    deadline = time.monotonic() + RETRY_429_SECONDS
    while True:
        status, h, rest = _raw_http_once(method, path, body, headers, timeout)
        if h.get("x-request-id"):
            SEEN_REQUEST_IDS.add(h["x-request-id"])
        if status != 429 or time.monotonic() >= deadline:
            return status, h, rest
        try:
            wait = float(h.get("retry-after", "1"))
        except ValueError:
            wait = 1.0
        time.sleep(min(max(wait, 0.2), 10.0))


def _raw_http_once(method, path, body, headers, timeout):
    u = urllib.parse.urlsplit(BASE_URL)
    host, port = u.hostname, u.port or 80
    hdrs = {"Host": f"{host}:{port}", "Connection": "close",
            "Content-Length": str(len(body))}
    hdrs.update(headers or {})
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        s.sendall(head.encode("latin-1"))
        view = memoryview(body)
        try:
            for off in range(0, len(view), 65536):
                s.sendall(view[off:off + 65536])
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered early; read what it said
        data = b""
        while True:
            try:
                b = s.recv(65536)
            except ConnectionResetError:
                break
            if not b:
                break
            data += b
    finally:
        s.close()
    head_b, _, rest = data.partition(b"\r\n\r\n")
    lines = head_b.decode("latin-1").split("\r\n")
    assert lines and lines[0].startswith("HTTP/"), f"no HTTP answer: {data[:200]!r}"
    status = int(lines[0].split()[1])
    h = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        h[k.strip().lower()] = v.strip()
    if h.get("transfer-encoding", "").lower() == "chunked":
        out, p = b"", rest
        while p:
            size_line, _, p = p.partition(b"\r\n")
            n = int(size_line.split(b";")[0], 16)
            if n == 0:
                break
            out, p = out + p[:n], p[n + 2:]
        rest = out
    return status, h, rest


# --------------------------------------------------------------------------
# Docker and cgroup inspection


def _docker(*args, timeout=30):
    return subprocess.run(["docker", *args], capture_output=True, text=True,
                          timeout=timeout)


def managed_containers():
    """[(id, labels dict, state)] of every container labelled isobox.managed=1."""
    r = _docker("ps", "-aq", "--no-trunc", "--filter", "label=isobox.managed=1")
    assert r.returncode == 0, f"docker ps failed: {r.stderr}"
    ids = r.stdout.split()
    out = []
    for cid in ids:
        i = _docker("inspect", "--format",
                    "{{json .Config.Labels}}\t{{.State.Status}}", cid)
        if i.returncode != 0:  # removed meanwhile
            continue
        labels_s, _, state = i.stdout.strip().partition("\t")
        try:
            labels = json.loads(labels_s) or {}
        except ValueError:
            labels = {}
        out.append((cid, labels, state))
        if _ours(labels) or (OWN_DEPLOYMENT and
                             labels.get("isobox.deployment") == OWN_DEPLOYMENT):
            OWN_IDS.add(cid)
    return out


def _is_pool(labels):
    return any(k.endswith("kind") and str(v) in POOL_KINDS
               for k, v in labels.items())


def _ours(labels):
    return labels.get("isobox.request") in SEEN_REQUEST_IDS


def leaked_containers(exclude=(), containers=None):
    """Managed containers that count as leaked (see LEAK_MODE): never
    warm-pool members nor those in exclude."""
    cs = managed_containers() if containers is None else containers
    return [c for c in cs
            if not _is_pool(c[1]) and c[0] not in exclude
            and c[0][:12] not in exclude
            and (LEAK_MODE != "own" or _ours(c[1]))]


def slice_dirs():
    """The isobox slice cgroup directories that exist on this host."""
    cands = [f"/sys/fs/cgroup/memory/{SLICE}", f"/sys/fs/cgroup/pids/{SLICE}",
             f"/sys/fs/cgroup/{SLICE}", f"/sys/fs/cgroup/unified/{SLICE}"]
    return [d for d in cands if os.path.isdir(d)]


def _slice_child_dirs():
    out = []
    for d in slice_dirs():
        for name in sorted(os.listdir(d)):
            p = os.path.join(d, name)
            if os.path.isdir(p):
                out.append((p, name))
    return out


def _all_container_ids():
    r = _docker("ps", "-aq", "--no-trunc")
    assert r.returncode == 0, f"docker ps failed: {r.stderr}"
    return r.stdout.split()


def leak_snapshot(exclude=()):
    """(leaked containers, leaked slice child cgroup dirs) right now.
    Cgroup dirs are listed before the containers, so a container created
    meanwhile cannot make its fresh cgroup look orphaned (Docker drops its
    record of a container only after the runtime removed the cgroup)."""
    dirs = _slice_child_dirs()
    allc = managed_containers()
    every = _all_container_ids()
    cs = leaked_containers(exclude, allc)
    pool = [c[0] for c in allc if _is_pool(c[1])]
    ours = [c[0] for c in allc if _ours(c[1])]
    cg = []
    for p, name in dirs:
        if any(cid in name for cid in pool):
            continue
        if LEAK_MODE == "own" and any(cid in name for cid in every) \
                and not any(cid in name for cid in ours):
            continue  # a live container of someone else
        if LEAK_MODE == "own" and OWN_DEPLOYMENT \
                and not any(cid in name for cid in OWN_IDS):
            continue  # a container never seen as ours (another deployment)
        cg.append(p)
    return cs, cg


def wait_no_leaks(timeout=10.0, exclude=(), check_cgroups=True):
    """Wait up to timeout seconds for leaked containers and slice child
    cgroups to disappear (see LEAK_MODE). Returns (containers, cgroup dirs)
    left."""
    deadline = time.monotonic() + timeout
    while True:
        cs, cg = leak_snapshot(exclude)
        if not check_cgroups:
            cg = []
        if (not cs and not cg) or time.monotonic() >= deadline:
            return cs, cg
        time.sleep(0.25)


def container_ids():
    return {c[0] for c in managed_containers()}


def wait_gone(ids, timeout):
    """Wait until none of the given container ids exists; return those left."""
    deadline = time.monotonic() + timeout
    while True:
        left = [c for c in managed_containers() if c[0] in ids]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.2)


# A program that makes its sandbox recognisable from the host: no label or
# name identifies the sandbox serving a request (it may be claimed from a warm
# pool), so the program holds MARK_BYTES of touched memory and the host looks
# for the one container whose memory cgroup uses that much.
MARK_BYTES = 128 * MiB
MARK_THRESHOLD = 120 * MiB
MARK_PY = ("_mark = bytearray(%d)\n"
           "for _i in range(0, len(_mark), 4096): _mark[_i] = 1\n" % MARK_BYTES)


def container_memory(cid):
    """Bytes the memory cgroup of container cid uses, or None."""
    for d in slice_dirs():
        if "/memory/" not in d + "/" and not os.path.exists(os.path.join(d, "memory.current")):
            continue
        for name in os.listdir(d):
            if cid not in name:
                continue
            for f in ("memory.usage_in_bytes", "memory.current"):
                try:
                    return int(open(os.path.join(d, name, f)).read())
                except (OSError, ValueError):
                    pass
    return None


def marked_sandboxes():
    """Running isobox containers whose memory shows a MARK_PY program."""
    return [c for c in managed_containers()
            if c[2] == "running" and (container_memory(c[0]) or 0) >= MARK_THRESHOLD]


@pytest.fixture(scope="session")
def url():
    return BASE_URL


@pytest.fixture(scope="session", autouse=True)
def _service_up():
    """Fail fast (one clear error) when the service does not answer at all."""
    try:
        requests.get(full_url("/healthz"), timeout=5)
    except requests.RequestException as e:
        pytest.exit(f"isobox does not answer at {BASE_URL}: {e}", returncode=1)


def _proc_line(pid):
    """"PID comm state ppid=P (parent comm: parent argv)" from /proc."""
    try:
        stat = open("/proc/%s/stat" % pid).read()
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        state, ppid = stat[stat.rindex(")") + 2:].split()[:2]
        parent = open("/proc/%s/comm" % ppid).read().strip()
        argv = open("/proc/%s/cmdline" % ppid, "rb").read().replace(b"\0", b" ")
        return "%s %s %s ppid=%s (%s: %s)" % (pid, comm, state, ppid, parent,
                                             argv.decode(errors="replace")[:300])
    except (OSError, ValueError, IndexError):
        return "%s (gone)" % pid


def describe_cgroups(dirs):
    """What runs in each leaked cgroup dir (and below): enough to tell a
    live shim's sandbox from a process that will not die."""
    out = []
    for d in dirs:
        for top, _subdirs, _files in os.walk(d):
            try:
                pids = open(os.path.join(top, "cgroup.procs")).read().split()
            except OSError:
                continue
            out.append("%s: %s" % (top, "; ".join(_proc_line(p) for p in pids) or "empty"))
    try:
        log = open("/var/log/isobox/isobox.log", errors="replace").read()[-20000000:]
    except OSError:
        log = ""
    for cid in sorted({os.path.basename(d) for d in dirs}):
        said = [ln for ln in log.splitlines() if cid[:12] in ln][-10:]
        out.append("isobox.log on %s:\n  %s" % (cid[:12], "\n  ".join(said) or "nothing"))
    return "\n".join(out)


@pytest.fixture(scope="module", autouse=True)
def leak_check():
    """After each test module: within 30 s no isobox container and no child
    cgroup under the isobox slice may remain (see LEAK_MODE). runsc removes
    a sandbox's cgroups a little after the engine removed the container."""
    yield
    cs, cg = wait_no_leaks(timeout=30.0)
    assert not cs and not cg, (
        "left behind after the module: containers="
        f"{[(c[0][:12], c[1], c[2]) for c in cs]} cgroups={cg}\n"
        f"{describe_cgroups(cg)}")


@pytest.fixture(scope="session")
def runtimes():
    r = requests.get(full_url("/runtimes"), timeout=10)
    assert r.status_code == 200, r.text
    return strict_json(r)


def runtime_of(runtimes_list, language):
    for rt in runtimes_list:
        if rt.get("language") == language:
            return rt
    return None
