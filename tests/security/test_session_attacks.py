"""test_session_attacks.py - the session file API against what sandboxed
code plants in its workspace: symlinks (absolute, relative, through
/proc/self/root, a directory symlink in the middle of a path), a symlink
swapped in while the API is hammered, FIFOs and sockets, a sparse file of
1 TiB apparent size, 10,000 entries, a tree deeper than any bound, names
that are not UTF-8. The API must never read, write or delete outside the
workspace, never hang, never buffer a whole file.

Every file path is attacked (docs/THREAT_MODEL.md 4.4):
  running  the sandbox runs, the service as configured at $ISOBOX_URL (by
           default: beneath the subvolume on the host, openat2 with
           RESOLVE_BENEATH|NO_SYMLINKS|NO_MAGICLINKS)
  guest    a private deployment with session_files_via_guest: file calls
           of a running sandbox go through its guest inside gVisor
  stopped  a private deployment with a 1 s idle stop: the sandbox is gone
           and the calls open beneath the subvolume
The private deployments have btrfs stores of their own (root and
btrfs-progs needed, $ISOBOX_FCGI_BIN).

Canaries: files in the host's /tmp that the service (root) could read and
write if it followed a link; after every attack their content is checked.
"""
import os
import sys
import tempfile
import threading
import time
import uuid

import pytest
import requests

from conftest import BASE_URL, assert_error

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e",
                                "helpers"))
import session_client as sc  # noqa: E402

CANARY_TEXT = b"host secret - must never be read through the file API\n"


@pytest.fixture(scope="module")
def canary():
    name = "isobox-canary-%s" % uuid.uuid4().hex[:10]
    path = os.path.join("/tmp", name)
    with open(path, "wb") as f:
        f.write(CANARY_TEXT)
    yield name, path
    assert open(path, "rb").read() == CANARY_TEXT, "the canary was changed"
    os.unlink(path)
    assert not os.path.exists("/tmp/" + name + ".written"), "a write escaped"


def _private(config, name):
    if not sc.have_btrfs():
        pytest.skip("needs root and btrfs-progs for a private store")
    tmp = tempfile.mkdtemp(prefix="isobox-session-attacks-")
    try:
        with sc.btrfs_store(tmp, "3G") as store:
            with sc.deployment(tmp, store, config, name=name) as d:
                d.store = store
                yield d
    finally:
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def stopped_deployment():
    yield from _private({"session_idle_stop_ms": 1000}, "stopped")


@pytest.fixture(scope="module")
def guest_deployment():
    yield from _private({"session_files_via_guest": True}, "guest")


@pytest.fixture(params=["running", "guest", "stopped"])
def mode(request):
    return request.param


@pytest.fixture
def session(mode, request):
    """A session whose workspace the test's program shapes, then reached
    through the file path of `mode`."""
    d = None if mode == "running" else request.getfixturevalue(mode + "_deployment")
    s = sc.new_session(BASE_URL if d is None else d.url)
    s.store = None if d is None else os.path.join(d.store, "sessions", s.id)
    yield s
    s.delete()


def plant(s, mode, code, wall=20000):
    """Run code in the session, then make sure the file calls take the
    path under test (host: wait until the idle stop removed the sandbox)."""
    out = s.run(code, limits={"wallTimeMs": wall})
    assert out["run"]["exitCode"] == 0, out
    if mode == "stopped":
        assert sc.wait_state(s, "stopped", 30) == "stopped"
    else:
        assert s.state() == "running"
    return out


def no_canary(r):
    assert CANARY_TEXT not in r.content, "host file content came through the API"


# --------------------------------------------------------------------------


def test_symlinks(session, mode, canary):
    name, path = canary
    plant(session, mode, f"""
import os
os.symlink('/tmp/{name}', 'abs')
os.symlink('../../../../../../../../tmp/{name}', 'rel')
os.symlink('/proc/self/root/tmp/{name}', 'proc')
os.symlink('/tmp', 'dirlink')
os.makedirs('real/d'); open('real/d/f', 'w').write('inside')
os.symlink('real', 'inlink')
""")
    ls = session.ls()
    for k in ("abs", "rel", "proc", "dirlink", "inlink"):
        assert ls[k]["type"] == "symlink", ls[k]
    for p in ("abs", "rel", "proc", "dirlink/" + name, "inlink/d/f"):
        r = session.get(p)
        no_canary(r)
        assert r.status_code in (400, 404), (p, r.status_code, r.text[:200])
        if r.status_code == 400:
            assert r.json()["error"] in ("symlink", "not_regular", "invalid_path"), r.text
    r = session.get("dirlink")
    no_canary(r)
    assert r.status_code in (400, 404) or (r.status_code == 200 and name not in r.text), r.text
    # writes through a link never land outside
    for p in ("dirlink/" + name + ".written", "dirlink/" + name, "proc"):
        r = session.put(p, b"overwritten")
        assert r.status_code in (200, 400, 404), (p, r.text)
    assert open(path, "rb").read() == CANARY_TEXT
    # a PUT over a link replaces the link itself
    r = session.put("abs", b"now a file")
    assert r.status_code in (200, 400), r.text
    if r.status_code == 200:
        assert session.get("abs").content == b"now a file"
    # deletes remove the link, never its target
    for p in ("dirlink/" + name, "inlink/d/f"):
        r = session.rm(p)
        assert r.status_code in (204, 400), (p, r.text)
    for p in ("rel", "dirlink", "inlink", "proc"):
        assert session.rm(p).status_code == 204, p
    assert open(path, "rb").read() == CANARY_TEXT
    assert os.path.isdir("/tmp")
    assert session.get("real/d/f").content == b"inside"


def test_special_files_do_not_hang(session, mode):
    plant(session, mode, """
import os, socket
os.mkfifo('fifo')
s = socket.socket(socket.AF_UNIX); s.bind('sock')
f = open('sparse', 'wb'); f.truncate(1 << 40); f.close()
""")
    if mode == "stopped":
        # gVisor keeps a FIFO or socket made inside it in its own memory;
        # another runtime could leave real ones: make them on the host.
        import socket
        ws = session.store
        if not os.path.exists(os.path.join(ws, "fifo")):
            os.mkfifo(os.path.join(ws, "fifo"))
        if not os.path.exists(os.path.join(ws, "sock")):
            u = socket.socket(socket.AF_UNIX)
            u.bind(os.path.join(ws, "sock"))
            u.close()
        os.mknod(os.path.join(ws, "null"), 0o666 | 0o020000, os.makedev(1, 3))
    ls = session.ls()
    specials = [p for p in ("fifo", "sock", "null") if p in ls]
    if mode != "running":
        # the guest sees gVisor's own; the host path gets the host's
        assert {"fifo", "sock"} <= set(specials), ls
    for p in specials:
        assert ls[p]["type"] == "other", ls[p]
    assert ls["sparse"]["size"] == 1 << 40
    for p in specials:
        t0 = time.monotonic()
        assert_error(session.get(p), 400, "not_regular")
        assert time.monotonic() - t0 < 10
        assert session.put(p, b"x").status_code in (200, 400)
    t0 = time.monotonic()
    r = session.get("sparse", headers={"Range": "bytes=%d-" % ((1 << 40) - 16)})
    assert r.status_code == 206 and r.content == b"\0" * 16
    r = session.get("sparse", headers={"Range": "bytes=0-1048575"})
    assert r.status_code == 206 and len(r.content) == 1 << 20
    assert time.monotonic() - t0 < 30
    # a whole download streams (Content-Length of 1 TiB), cut by the client
    r = session.get("sparse", stream=True)
    assert r.status_code == 200 and r.headers["Content-Length"] == str(1 << 40)
    got = 0
    for chunk in r.iter_content(1 << 20):
        got += len(chunk)
        if got >= 32 << 20:
            break
    r.close()
    # the transfer stops once the client is gone (within a piece)
    deadline = time.monotonic() + 30
    while True:
        d = session.rm("sparse")
        if d.status_code != 409 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert d.status_code == 204, d.text


def test_many_entries_and_deep_trees(session, mode):
    # 10000 files in four steps: a step's wall time is capped (20 s by
    # default), and a loaded host makes files slowly under gVisor
    for part in range(4):
        out = session.run("""
import os
os.makedirs('many', exist_ok=True)
for i in range(%d, %d):
    open('many/f%%05d' %% i, 'w').close()
""" % (part * 2500, (part + 1) * 2500), limits={"wallTimeMs": 20000})
        assert out["run"]["exitCode"] == 0, out
    plant(session, mode, """
import os
p = 'deep'
for i in range(300):
    p = os.path.join(p, 'd')
os.makedirs(p)
open(os.path.join(p, 'leaf'), 'w').write('x')
""")
    t0 = time.monotonic()
    ls = session.ls("many")
    assert len(ls) == 10000 and "f09999" in ls
    assert time.monotonic() - t0 < 30
    assert_error(session.get("/".join(["deep"] + ["d"] * 200)), 400, "invalid_path")
    r = session.rm("deep")
    assert r.status_code in (204, 409), r.text
    assert session.rm("many").status_code == 204
    assert "many" not in session.ls()


def test_names_not_utf8(session, mode):
    plant(session, mode, """
open(b'\\xff\\xfe.bin', 'wb').write(b'odd name')
open('ok-\u00e9.txt', 'w').write('fine')
""")
    ls = session.ls()
    odd = [e for e in ls.values() if e.get("nameHex") == "fffe2e62696e"]
    assert len(odd) == 1, ls
    assert "ok-\u00e9.txt" in ls and "nameHex" not in ls["ok-\u00e9.txt"]
    # addressed by its bytes (a web server may refuse them in ?path=)
    r = requests.get(session.url("/fs"), params={"pathHex": "fffe2e62696e"},
                     headers=session.h(), timeout=30)
    assert r.status_code == 200 and r.content == b"odd name"
    r = requests.put(session.url("/fs"), params={"pathHex": "fffe2e62696e"}, data=b"new",
                     headers=session.h(), timeout=30)
    assert r.status_code == 200, r.text
    assert_error(requests.get(session.url("/fs"), params={"pathHex": "61006263"},
                              headers=session.h(), timeout=30), 400, "invalid_path")
    assert_error(requests.get(session.url("/fs"), params={"pathHex": "2e2e"},
                              headers=session.h(), timeout=30), 400, "invalid_path")
    assert_error(requests.get(session.url("/fs"), params={"pathHex": "zz"},
                              headers=session.h(), timeout=30), 400, "invalid_path")


def test_swapped_symlink_race(session, mode, canary):
    """A program swaps a directory and a symlink to /tmp as fast as it can
    while the client hammers paths through it. While the step runs every
    file call is refused (409: one user of a session at a time); after it,
    whatever the last swap left, nothing outside is reached."""
    name, path = canary
    session.put("race/" + name, b"inside copy")
    stop = time.monotonic() + 4
    seen = {"busy": 0, "other": []}

    def hammer():
        while time.monotonic() < stop:
            r = session.get("race/" + name)
            no_canary(r)
            if r.status_code == 409:
                seen["busy"] += 1
            else:
                seen["other"].append(r.status_code)
            session.put("race/" + name + ".written", b"x")

    t = threading.Thread(target=hammer)
    t.start()
    code = """
import os, time
end = time.time() + 3
i = 0
while time.time() < end:
    try:
        os.rename('race', 'race.d'); os.symlink('/tmp', 'race')
        os.unlink('race'); os.rename('race.d', 'race')
    except OSError:
        pass
    i += 1
print(i)
"""
    while True:  # the hammer may hold the session for a moment
        out = session.exec(code, limits={"wallTimeMs": 10000})
        if out.status_code != 409:
            break
        time.sleep(0.05)
    t.join(30)
    assert out.status_code == 200, out.text
    assert seen["busy"] > 0, seen
    if mode == "stopped":
        assert sc.wait_state(session, "stopped", 30) == "stopped"
    for _ in range(20):
        r = session.get("race/" + name)
        no_canary(r)
        assert r.status_code in (200, 400, 404), r.text
        if r.status_code == 200:
            assert r.content == b"inside copy"
    assert open(path, "rb").read() == CANARY_TEXT
