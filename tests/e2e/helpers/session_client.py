"""session_client.py - a small client of /v1/sessions for the e2e and
security tests (tests/e2e/test_sessions.py, test_volumes.py,
test_kernels.py, tests/security/test_session_attacks.py), private
deployments with a btrfs workspace store of their own (a loop image,
mounted and removed by the fixture), and the set-up those modules share
(tmp_root, keys files, subvolume listings, the disk-cap fill, a dockerd
restart).

Nothing here touches the main service's store: a private deployment gets
its own store_root, state_dir and run_dir.
"""
import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
import uuid

import requests

import isobox_deploy as dep

TIMEOUT = 120


class Session:
    """One session: id, token and the base URL it lives on."""

    def __init__(self, base, doc, headers=None):
        self.base = base.rstrip("/")
        self.doc = doc
        self.id = doc["id"]
        self.token = doc["token"]
        self.extra = dict(headers or {})

    def h(self, **more):
        h = {"X-Session-Token": self.token}
        h.update(self.extra)
        h.update(more)
        return h

    def url(self, sub=""):
        return "%s/v1/sessions/%s%s" % (self.base, self.id, sub)

    def exec(self, code=None, stream=False, **body):
        if code is not None:
            body["code"] = code
        headers = self.h(**{"Content-Type": "application/json"})
        if stream:
            headers["Accept"] = "text/event-stream"
        return requests.post(self.url("/exec"), data=json.dumps(body),
                             headers=headers, timeout=TIMEOUT, stream=stream)

    def run(self, code, **body):
        """exec, assert 200, return the parsed answer."""
        r = self.exec(code, **body)
        assert r.status_code == 200, "exec: %d %s" % (r.status_code, r.text[:2000])
        return r.json()

    def info(self):
        return requests.get(self.url(), headers=self.h(), timeout=TIMEOUT)

    def put(self, path, data, **kw):
        return requests.put(self.url("/fs"), params={"path": path}, data=data,
                            headers=self.h(**kw.pop("headers", {})),
                            timeout=TIMEOUT, **kw)

    def get(self, path, **kw):
        return requests.get(self.url("/fs"), params={"path": path},
                            headers=self.h(**kw.pop("headers", {})),
                            timeout=TIMEOUT, **kw)

    def ls(self, path=""):
        r = self.get(path)
        assert r.status_code == 200, "list %r: %d %s" % (path, r.status_code, r.text[:500])
        doc = r.json()
        assert doc["dir"] is True, doc
        return {e["name"]: e for e in doc["entries"]}

    def rm(self, path):
        return requests.delete(self.url("/fs"), params={"path": path},
                               headers=self.h(), timeout=TIMEOUT)

    def delete(self):
        return requests.delete(self.url(), headers=self.h(), timeout=TIMEOUT)

    def state(self):
        r = self.info()
        assert r.status_code == 200, r.text
        return r.json()["state"]


MiB = 1024 * 1024


def cut_upload(s, path, chunked, sent=4 * MiB, declared=16 * MiB):
    """Start a PUT of path on a raw connection, send `sent` bytes of its
    body (declared as `declared` bytes with Content-Length, or as chunks of
    a chunked body that never ends), wait a moment so the web server hands
    what it has on (a streaming one, e.g. Apache's mod_proxy_fcgi, is then
    writing it into the workspace), and cut the connection."""
    u = urllib.parse.urlsplit(s.url("/fs"))
    target = "%s?%s" % (u.path, urllib.parse.urlencode({"path": path}))
    head = ["PUT %s HTTP/1.1" % target, "Host: %s" % u.netloc,
            "Content-Type: application/octet-stream"]
    head += ["%s: %s" % kv for kv in s.h().items()]
    head.append("Transfer-Encoding: chunked" if chunked else "Content-Length: %d" % declared)
    c = socket.create_connection((u.hostname, u.port or 80), timeout=30)
    try:
        c.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        piece = os.urandom(64 * 1024)
        for _ in range(sent // len(piece)):
            if chunked:
                c.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
            else:
                c.sendall(piece)
        time.sleep(1.0)
    finally:
        c.close()


def check_cut_upload(s, chunked):
    """A cut upload (see cut_upload) leaves the file it would replace as
    it was, no part of the new one and no temporary name; the session keeps
    working."""
    old = b"the old content\n"
    r = s.put("cut.bin", old)
    assert r.status_code == 200, r.text
    cut_upload(s, "cut.bin", chunked)
    # The server notices the cut when it next reads; until then the
    # upload holds the session (409 session_busy): give it a moment.
    deadline = time.monotonic() + 30
    while True:
        r = s.get("")
        if r.status_code == 200:
            names = {e["name"]: e for e in r.json()["entries"]}
            stray = [n for n in names if n.startswith(".isobox-tmp")]
            if not stray:
                break
        else:
            assert r.status_code == 409, r.text
            assert r.json()["error"] == "session_busy", r.text
        assert time.monotonic() < deadline, "still %d %s" % (r.status_code, r.text[:300])
        time.sleep(0.2)
    assert names["cut.bin"]["size"] == len(old), names["cut.bin"]
    assert s.get("cut.bin").content == old
    r = s.put("after.bin", b"still works")
    assert r.status_code == 200, r.text
    assert r.json()["sha256"] == hashlib.sha256(b"still works").hexdigest()


def chunked_body(n, piece=1 << 20):
    """n bytes of a fixed pattern as a generator (requests sends it with
    Transfer-Encoding: chunked, no Content-Length) and their sha256."""
    block = (b"0123456789abcdef" * (piece // 16 + 1))[:piece]
    h = hashlib.sha256()
    left = n
    while left > 0:
        h.update(block[:min(piece, left)])
        left -= piece

    def gen():
        left = n
        while left > 0:
            yield block[:min(piece, left)]
            left -= piece
    return gen(), h.hexdigest()


def create(base, body=None, headers=None):
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    return requests.post(base.rstrip("/") + "/v1/sessions",
                         data=json.dumps({"runtime": "python"} if body is None else body),
                         headers=h, timeout=TIMEOUT)


def new_session(base, headers=None, **fields):
    body = {"runtime": "python"}
    body.update(fields)
    r = create(base, body, headers)
    assert r.status_code == 201, "create: %d %s" % (r.status_code, r.text[:1000])
    return Session(base, r.json(), headers)


@contextlib.contextmanager
def sessions(base, n=1, headers=None, **fields):
    """n fresh sessions, deleted afterwards whatever happens."""
    made = []
    try:
        for _ in range(n):
            made.append(new_session(base, headers, **fields))
        yield made if n > 1 else made[0]
    finally:
        for s in made:
            try:
                s.delete()
            except requests.RequestException:
                pass


def wait_state(s, want, timeout):
    deadline = time.monotonic() + timeout
    while True:
        st = s.state()
        if st == want or time.monotonic() >= deadline:
            return st
        time.sleep(0.25)


def session_containers(session_id=None):
    """Ids of containers labelled isobox.kind=session, or of one session (a
    kernel session's may be a warm one: isobox.kind=kernelpool)."""
    args = ["ps", "-aq", "--no-trunc"]
    if session_id:
        args += ["--filter", "label=isobox.session=%s" % session_id]
    else:
        args += ["--filter", "label=isobox.kind=session"]
    r = dep.docker(*args, timeout=30, check=True)
    return r.stdout.split()


# --------------------------------------------------------------------------
# a btrfs store of one's own


@contextlib.contextmanager
def btrfs_store(tmp, size="2G"):
    """A loop-mounted btrfs with quotas on, under tmp; unmounted and removed
    afterwards. Needs root, mkfs.btrfs and btrfs."""
    img = os.path.join(tmp, "store-%s.img" % uuid.uuid4().hex[:8])
    mnt = img[:-4]
    os.makedirs(mnt)
    subprocess.run(["truncate", "-s", size, img], check=True)
    subprocess.run(["mkfs.btrfs", "-q", img], check=True, capture_output=True)
    subprocess.run(["mount", "-o", "loop,noatime,nosuid,nodev", img, mnt], check=True)
    try:
        subprocess.run(["btrfs", "quota", "enable", mnt], check=True, capture_output=True)
        yield mnt
    finally:
        for _ in range(50):
            if subprocess.run(["umount", mnt], capture_output=True).returncode == 0:
                break
            time.sleep(0.2)
        shutil.rmtree(mnt, ignore_errors=True)
        try:
            os.unlink(img)
        except OSError:
            pass


def have_btrfs():
    return os.geteuid() == 0 and shutil.which("mkfs.btrfs") and shutil.which("btrfs")


def deployment(tmp, store, config=None, procs=2, name="isobox", state=None, run=None,
               cls=None):
    """A private deployment (lighttpd spawning procs isobox.fcgi) whose
    workspaces live in store. state/run: directories to reuse (a restart).
    cls: dep.PoolDeployment for one whose access lines can be read."""
    cat = os.path.join(tmp, "catalogue")
    os.makedirs(cat, exist_ok=True)
    shutil.copy(dep.base_catalogue(), os.path.join(cat, "languages.yaml"))
    cfg = {"pool_languages": "", "kernel_pool_size": 0,
           "rate_per_min": 100000, "rate_burst": 100000,
           "store_root": store, "store_reserve_bytes": "16MiB"}
    if state:
        cfg["state_dir"] = state
    if run:
        cfg["run_dir"] = run
    cfg.update(config or {})
    return (cls or dep.Deployment)(tmp, cat, mode="bin-path", max_procs=procs, config=cfg,
                                   name=name)


def tmp_root_fixture(prefix):
    """A module-scoped fixture named tmp_root: a directory (prefix...) for
    private deployments, removed afterwards. In a test module:
    tmp_root = sc.tmp_root_fixture("isobox-x-")."""
    import pytest

    @pytest.fixture(scope="module", name="tmp_root")
    def _tmp_root():
        d = tempfile.mkdtemp(prefix=prefix)
        yield d
        shutil.rmtree(d, ignore_errors=True)
    return _tmp_root


def keys_file(tmp, names, filename="keys.yaml"):
    """An API keys file in tmp with one random key per tenant name.
    Returns ({name: key}, its path)."""
    keys = {t: "key-%s-%s" % (t, os.urandom(8).hex()) for t in names}
    lines = ["keys:"]
    for t in names:
        lines += ["  - name: %s" % t,
                  "    sha256: %s" % hashlib.sha256(keys[t].encode()).hexdigest()]
    kf = os.path.join(tmp, filename)
    dep.write_atomic(kf, "\n".join(lines) + "\n")
    return keys, kf


def subvolumes(store, kind):
    """The subvolumes of kind ("sessions", "volumes") in a btrfs store."""
    d = os.path.join(store, kind)
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def fill_until_full(s, path, cap_mib):
    """Write 1 MiB pieces to path inside session s until the disk cap
    refuses one: the cap must answer EDQUOT or ENOSPC after at most
    cap_mib pieces."""
    out = s.run(
        "import errno, os\nf = open(%r, 'wb')\nn = 0\ntry:\n"
        "    while True:\n        f.write(b'x' * 1048576); f.flush(); n += 1\n"
        "        os.fsync(f.fileno())\n"
        "except OSError as e:\n    print('ERR', errno.errorcode[e.errno], n)\n" % path,
        limits={"wallTimeMs": 20000})
    words = out["run"]["stdout"].split()
    assert words[:1] == ["ERR"] and words[1] in ("EDQUOT", "ENOSPC"), out
    assert int(words[2]) <= cap_mib, out


def restart_dockerd():
    """Stop the host's dockerd (SIGTERM) and start it again as
    scripts/setup-host does."""
    pid = dep.dockerd_pid()
    assert pid, "no dockerd process"
    os.kill(pid, signal.SIGTERM)
    assert dep.wait_for(lambda: not dep.alive(pid), 60, 0.25)
    assert dep.start_dockerd(120), "dockerd did not come back"


def exec_until_ok(s, code, timeout=60):
    """Run code in session s until a step answers 200 (the engine may take
    a while to come back); the last response."""
    deadline = time.monotonic() + timeout
    while True:
        r = s.exec(code)
        if r.status_code == 200 or time.monotonic() > deadline:
            return r
        time.sleep(1)


def remove_session_containers(session_ids):
    for sid in session_ids:
        for cid in session_containers(sid):
            dep.docker("rm", "-f", cid, timeout=60)
