"""test_volume_attacks.py - what a volume can carry from one sandbox, or
from the host, to another: a setuid-root binary, device nodes, symlinks
aimed at host files. A volume outlives its sessions and is mounted into
others, so anything planted in it must grant nothing (docs/THREAT_MODEL.md,
volumes):

  - a setuid-root binary in a volume runs without privilege in the next
    sandbox that mounts it (no_new_privs, and the user is 65534);
  - a sandbox cannot make a device node (no CAP_MKNOD); one planted on the
    host (the store is mounted nodev) opens nothing in the sandbox, and the
    file API refuses it (400 not_regular);
  - the volume file API never follows a symlink a sandbox planted (400
    symlink), whoever swaps it in: a host canary is never read or written.

A private deployment with a btrfs store of its own (root, btrfs-progs,
$ISOBOX_FCGI_BIN), so the test can plant files on the host side.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import uuid

import pytest
import requests

from conftest import assert_error

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e",
                                "helpers"))
import session_client as sc  # noqa: E402

T = 120
CANARY = b"host secret - must never come through a volume\n"


@pytest.fixture(scope="module")
def dep():
    if not sc.have_btrfs():
        pytest.skip("needs root and btrfs-progs for a private store")
    tmp = tempfile.mkdtemp(prefix="isobox-volume-attacks-")
    try:
        with sc.btrfs_store(tmp, "2G") as store:
            with sc.deployment(tmp, store, {}, name="vattack") as d:
                d.store = store
                yield d
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def vol(dep):
    r = requests.post(dep.url + "/v1/volumes", json={"name": "v-" + uuid.uuid4().hex[:8]},
                      timeout=T)
    assert r.status_code == 201, r.text
    v = r.json()
    v["url"] = dep.url + "/v1/volumes/" + v["id"]
    v["host"] = os.path.join(dep.store, "volumes", v["id"])
    held = []
    v["held"] = held
    yield v
    for s in held:
        s.delete()
    assert requests.delete(v["url"], timeout=T).status_code == 204


def attach(dep, v, mode="rw", path="/data"):
    s = sc.new_session(dep.url, volumes=[{"id": v["id"], "mountPath": path, "mode": mode}])
    v["held"].append(s)
    return s


def release(v, s):
    assert s.delete().status_code == 204
    v["held"].remove(s)


def test_store_is_nosuid_nodev(dep):
    """The host side: the store's mount carries nosuid,nodev (so a setuid
    file or a device node in a volume grants nothing on the host either)."""
    opts = subprocess.run(["findmnt", "-no", "OPTIONS", "-T", dep.store], capture_output=True,
                          text=True, check=True).stdout
    assert "nosuid" in opts and "nodev" in opts, opts


def test_setuid_root_binary_grants_nothing(dep, vol):
    s = attach(dep, vol)
    out = s.run("import shutil\nshutil.copy('/usr/bin/id', '/data/id')\nprint('ok')")
    assert out["run"]["stdout"] == "ok\n", out
    release(vol, s)
    # made setuid root on the host, as a root process anywhere could
    p = os.path.join(vol["host"], "id")
    os.chown(p, 0, 0)
    os.chmod(p, 0o4755)
    assert os.stat(p).st_mode & 0o4000
    s = attach(dep, vol, mode="ro", path="/mnt/in")
    out = s.run("import os, subprocess\nst = os.stat('/mnt/in/id')\n"
                "print(oct(st.st_mode & 0o7777), st.st_uid)\n"
                "print(subprocess.run(['/mnt/in/id', '-u'], capture_output=True, "
                "text=True).stdout.strip())\n"
                "print(os.geteuid())")
    lines = out["run"]["stdout"].split("\n")
    assert lines[0] == "0o4755 0", out
    assert lines[1] == "65534", "a setuid-root binary in a volume gave root: %s" % out
    assert lines[2] == "65534", out
    # read-write too (a writer could otherwise chmod it further)
    release(vol, s)
    s = attach(dep, vol)
    out = s.run("import subprocess\nprint(subprocess.run(['/data/id', '-u'], "
                "capture_output=True, text=True).stdout.strip())")
    assert out["run"]["stdout"] == "65534\n", out


def test_device_nodes(dep, vol):
    s = attach(dep, vol)
    out = s.run("import errno, os\n"
                "try:\n    os.mknod('/data/null', 0o20666, os.makedev(1, 3)); print('MADE')\n"
                "except OSError as e:\n    print(errno.errorcode[e.errno])\n")
    assert out["run"]["stdout"].strip() in ("EPERM", "EACCES"), out
    release(vol, s)
    # planted on the host: /dev/mem and /dev/null numbers, world-readable
    for name, minor in (("mem", 1), ("null", 3)):
        p = os.path.join(vol["host"], name)
        if os.path.exists(p):
            os.unlink(p)
        os.mknod(p, 0o666 | 0o020000, os.makedev(1, minor))
    s = attach(dep, vol)
    out = s.run("import os\nfor n in ('mem', 'null'):\n    try:\n"
                "        fd = os.open('/data/' + n, os.O_RDONLY)\n"
                "        print(n, 'OPEN', len(os.read(fd, 64)))\n"
                "    except OSError as e:\n        print(n, 'ERR', e.errno)\n")
    for line in out["run"]["stdout"].splitlines():
        name, what = line.split()[:2]
        # opening a host device through a volume gives nothing of the host
        assert what == "ERR" or (name == "null" and line.endswith(" 0")), out
    release(vol, s)
    for name in ("mem", "null"):
        r = requests.get(vol["url"] + "/fs", params={"path": name}, timeout=T)
        assert_error(r, 400, "not_regular")
    assert requests.delete(vol["url"] + "/fs", params={"path": "mem"},
                           timeout=T).status_code == 204


def test_symlinks_planted_in_a_volume(dep, vol):
    name = "isobox-vcanary-%s" % uuid.uuid4().hex[:10]
    canary = os.path.join("/tmp", name)
    with open(canary, "wb") as f:
        f.write(CANARY)
    try:
        s = attach(dep, vol)
        s.run("import os\nos.symlink(%r, '/data/link')\n"
              "os.symlink('/tmp', '/data/dir')\n"
              "os.symlink('/proc/self/root/tmp/%s', '/data/proc')\n" % (canary, name))
        release(vol, s)
        u = vol["url"] + "/fs"
        for p in ("link", "proc", "dir/" + name):
            r = requests.get(u, params={"path": p}, timeout=T)
            assert_error(r, 400, "symlink")
            assert CANARY not in r.content
        r = requests.put(u, params={"path": "dir/" + name + ".written"}, data=b"x", timeout=T)
        assert_error(r, 400, "symlink")
        # PUT over a symlink replaces the name, never writes through it
        r = requests.put(u, params={"path": "link"}, data=b"replaced", timeout=T)
        assert r.status_code == 200, r.text
        assert requests.delete(u, params={"path": "dir"}, timeout=T).status_code == 204
        assert open(canary, "rb").read() == CANARY
        assert not os.path.exists(canary + ".written")
        assert os.path.isdir("/tmp")
    finally:
        os.unlink(canary)
