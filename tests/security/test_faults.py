"""test_faults.py - faults with nothing lost (issue 21): kill -9 of every
isobox.fcgi during uploads, downloads and volume snapshots, a client that
disconnects mid-upload, the LMDB map full and the store's file system full.
After each: every acknowledged write is there with its exact bytes, nothing
half-written is visible, and nothing is left behind (subvolumes, qgroups,
containers). (kill -9 during memory writes and during a step:
tests/e2e/test_memory.py and test_sessions.py; dockerd restarts:
test_sessions.py / test_volumes.py, marked disruptive.)

Private deployments with btrfs stores of their own (root, btrfs-progs,
$ISOBOX_FCGI_BIN): only their own processes are killed, by pid.
"""
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import pytest
import requests

from conftest import assert_error

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e",
                                "helpers"))
import isobox_deploy as dep  # noqa: E402
import session_client as sc  # noqa: E402

T = 60
MiB = 1024 * 1024

pytestmark = pytest.mark.skipif(not sc.have_btrfs(), reason="needs root and btrfs-progs")


@pytest.fixture(scope="module")
def tmp():
    t = tempfile.mkdtemp(prefix="isobox-faults-")
    yield t
    shutil.rmtree(t, ignore_errors=True)


def qgroups(store):
    r = subprocess.run(["btrfs", "qgroup", "show", "--raw", store], capture_output=True,
                       text=True, check=True)
    return {ln.split()[0] for ln in r.stdout.splitlines() if ln.startswith("0/")}


def subvols(store, kind):
    p = os.path.join(store, kind)
    return set(os.listdir(p)) if os.path.isdir(p) else set()


def kill_all(d):
    victims = d.procs()
    assert victims, "no isobox.fcgi to kill"
    for p in victims:
        os.kill(p, signal.SIGKILL)
    assert dep.wait_for(lambda: set(d.procs()) - set(victims) and
                        len(d.procs()) == d.max_procs, 20), "lighttpd did not respawn"
    return victims


def retry(fn, codes=(409, 502, 503), timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        try:
            r = fn()
        except requests.RequestException:
            r = None
        if r is not None and (r.status_code not in codes or time.monotonic() > deadline):
            return r
        if time.monotonic() > deadline:
            raise AssertionError("no answer within %d s" % timeout)
        time.sleep(0.3)


def test_kill9_during_uploads_and_downloads(tmp):
    with sc.btrfs_store(tmp, "2G") as store:
        with sc.deployment(tmp, store, {}, name="fk1", procs=2) as d:
            ss = [sc.new_session(d.url) for _ in range(4)]
            acked, lock, stop = {}, threading.Lock(), threading.Event()
            want = {}

            def uploader(s, n):
                j = 0
                while not stop.is_set():
                    name = "u%d/%05d.bin" % (n, j)
                    data = hashlib.sha256(name.encode()).digest() * (2048 + 977 * (j % 5))
                    with lock:
                        want[(s.id, name)] = data
                    try:
                        r = s.put(name, data)
                        if r.status_code == 200:
                            assert r.json()["sha256"] == hashlib.sha256(data).hexdigest()
                            with lock:
                                acked[(s.id, name)] = data
                    except requests.RequestException:
                        pass
                    j += 1

            # The file the downloader reads is in place before anything is
            # killed (its upload under load can outlast the 2 s before the
            # first kill; uploads cut by a kill are the uploaders' part).
            assert ss[3].put("big.bin", b"\x5a" * (8 * MiB)).status_code == 200

            def downloader(s):
                while not stop.is_set():
                    try:
                        r = s.get("big.bin", stream=True)
                        for _ in r.iter_content(1 << 20):
                            if stop.is_set():
                                break
                        r.close()
                    except requests.RequestException:
                        pass

            ts = [threading.Thread(target=uploader, args=(s, i)) for i, s in enumerate(ss[:3])]
            ts.append(threading.Thread(target=downloader, args=(ss[3],)))
            for t in ts:
                t.start()
            try:
                time.sleep(2)
                before = len(acked)
                kill_all(d)
                time.sleep(2)
                kill_all(d)
                time.sleep(1.5)
            finally:
                stop.set()
                for t in ts:
                    t.join(60)
            assert before > 0 and len(acked) > before, (before, len(acked))
            for s in ss:
                r = retry(lambda: s.get(""))
                assert r.status_code == 200, r.text
            for (sid, name), data in acked.items():
                s = [x for x in ss if x.id == sid][0]
                r = retry(lambda: s.get(name))
                assert r.status_code == 200 and r.content == data, name
            # nothing half-written: every file listed is whole (acknowledged
            # or not: an upload cut by the kill leaves no file at all)
            for i, s in enumerate(ss[:3]):
                for name, e in s.ls("u%d" % i).items():
                    data = want[(s.id, "u%d/%s" % (i, name))]
                    assert e["size"] == len(data), (name, e)
            r = retry(lambda: ss[3].get("big.bin"))
            assert r.content == b"\x5a" * (8 * MiB)
            for s in ss:
                assert retry(s.delete).status_code == 204
        assert not subvols(store, "sessions")


def test_kill9_during_volume_snapshots(tmp):
    with sc.btrfs_store(tmp, "2G") as store:
        with sc.deployment(tmp, store, {}, name="fk2", procs=2) as d:
            q0 = qgroups(store)
            r = requests.post(d.url + "/v1/volumes", json={"name": "src", "sizeBytes": 64 * MiB},
                              timeout=T)
            src = r.json()["id"]
            data = os.urandom(3 * MiB)
            assert requests.put(d.url + "/v1/volumes/%s/fs" % src, params={"path": "d.bin"},
                                data=data, timeout=T).status_code == 200
            acked, stop = [], threading.Event()

            def copier(n):
                j = 0
                while not stop.is_set():
                    try:
                        r = requests.post(d.url + "/v1/volumes", timeout=T, json={
                            "name": "c%d-%d" % (n, j), "from": src})
                        if r.status_code == 201:
                            acked.append(r.json()["id"])
                    except requests.RequestException:
                        pass
                    j += 1

            ts = [threading.Thread(target=copier, args=(n,)) for n in range(3)]
            for t in ts:
                t.start()
            try:
                time.sleep(1.5)
                kill_all(d)
                time.sleep(1.5)
            finally:
                stop.set()
                for t in ts:
                    t.join(60)
            assert acked
            listed = retry(lambda: requests.get(d.url + "/v1/volumes", timeout=T)).json()
            ids = {v["id"] for v in listed["volumes"]}
            assert set(acked) <= ids
            for vid in ids:
                r = retry(lambda: requests.get(d.url + "/v1/volumes/%s/fs" % vid,
                                               params={"path": "d.bin"}, timeout=T))
                assert r.status_code == 200 and r.content == data, (
                    vid, vid in acked, r.text[:200],
                    os.listdir(os.path.join(store, "volumes", vid))
                    if os.path.isdir(os.path.join(store, "volumes", vid)) else "no subvolume")
            # a copy cut by the kill left no subvolume without its row, or
            # the reconciliation removes it
            assert dep.wait_for(lambda: subvols(store, "volumes") == ids, 30), \
                (subvols(store, "volumes") - ids, ids - subvols(store, "volumes"))
            for vid in ids:
                assert retry(lambda: requests.delete(d.url + "/v1/volumes/" + vid,
                                                     timeout=T)).status_code == 204
            assert not subvols(store, "volumes")
            assert dep.wait_for(lambda: qgroups(store) <= q0, 30), qgroups(store) - q0


def test_client_disconnects_mid_upload(tmp):
    with sc.btrfs_store(tmp, "2G") as store:
        with sc.deployment(tmp, store, {}, name="fk3", procs=2) as d:
            s = sc.new_session(d.url)
            host, port = d.url.split("//")[1].split(":")
            for target in ("s", "v"):
                if target == "s":
                    path = "/v1/sessions/%s/fs?path=cut.bin" % s.id
                    extra = "X-Session-Token: %s\r\n" % s.token
                else:
                    v = requests.post(d.url + "/v1/volumes", json={"name": "cut"},
                                      timeout=T).json()
                    path = "/v1/volumes/%s/fs?path=cut.bin" % v["id"]
                    extra = ""
                for sent in (0, 100, 3 * MiB):
                    k = socket.create_connection((host, int(port)), timeout=30)
                    k.sendall(("PUT %s HTTP/1.1\r\nHost: x\r\n%sContent-Length: %d\r\n\r\n"
                               % (path, extra, 8 * MiB)).encode())
                    if sent:
                        k.sendall(b"y" * sent)
                    time.sleep(0.3)
                    k.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    k.close()  # RST
                if target == "s":
                    r = retry(lambda: s.get(""))
                    assert r.status_code == 200 and r.json()["entries"] == [], r.text
                    assert s.put("after.txt", b"ok").status_code == 200
                else:
                    r = retry(lambda: requests.get(d.url + "/v1/volumes/%s/fs" % v["id"],
                                                   timeout=T))
                    assert r.status_code == 200 and r.json()["entries"] == [], r.text
                    assert requests.delete(d.url + "/v1/volumes/" + v["id"],
                                           timeout=T).status_code == 204
            assert s.delete().status_code == 204
            assert not subvols(store, "sessions") and not subvols(store, "volumes")


def test_lmdb_map_full(tmp):
    """A small state map fills: writes get 507 store_full, every 204 before
    reads back, sessions still work or fail with a clean error, and
    deleting frees room again."""
    with sc.btrfs_store(tmp, "2G") as store:
        cfg = {"state_map_bytes": "4MiB", "memory_tenant_bytes": "64MiB",
               "memory_max_value_bytes": "1MiB"}
        with sc.deployment(tmp, store, cfg, name="fk4", procs=2) as d:
            acked, full = [], None
            for i in range(200):
                v = hashlib.sha256(b"%d" % i).digest() * 2048  # 64 KiB
                r = requests.put(d.url + "/v1/memory/full/k%03d" % i, data=v, timeout=T)
                if r.status_code == 204:
                    acked.append((i, v))
                    continue
                full = r
                break
            assert full is not None, "the 4 MiB map never filled"
            assert_error(full, 507, "store_full")
            assert len(acked) >= 10
            for i, v in acked:
                g = requests.get(d.url + "/v1/memory/full/k%03d" % i, timeout=T)
                assert g.status_code == 200 and g.content == v, i
            r = sc.create(d.url, {"runtime": "python"})
            assert r.status_code in (201, 507), r.text
            if r.status_code == 201:
                assert sc.Session(d.url, r.json()).delete().status_code == 204
            else:
                assert_error(r, 507)
            for i, _ in acked:
                assert requests.delete(d.url + "/v1/memory/full/k%03d" % i,
                                       timeout=T).status_code == 204
            r = requests.put(d.url + "/v1/memory/full/again", data=b"x" * 65536, timeout=T)
            assert r.status_code == 204, r.text
            assert requests.delete(d.url + "/v1/memory/full/again", timeout=T).status_code == 204
            u = requests.get(d.url + "/v1/memory", timeout=T).json()["usage"]
            assert u == {"bytes": 0, "keys": 0}, u


def test_store_filesystem_full(tmp):
    """The store itself fills (a 400 MiB btrfs, uploads into sessions with
    large caps): the uploads past the reserve are refused (507
    storage_full, or 413 when the file system refuses first), every
    acknowledged file reads back whole, nothing partial is listed, and
    after deletes the store takes writes again."""
    with sc.btrfs_store(tmp, "400M") as store:
        cfg = {"store_reserve_bytes": "32MiB", "session_disk_bytes": "1GiB"}
        with sc.deployment(tmp, store, cfg, name="fk5", procs=2) as d:
            ss = [sc.new_session(d.url) for _ in range(2)]
            acked, refused = [], []
            for i in range(80):
                s = ss[i % 2]
                data = bytes([i]) * (8 * MiB)
                r = s.put("f%02d" % i, data)
                if r.status_code == 200:
                    acked.append((s, "f%02d" % i))
                else:
                    refused.append(r)
                    if len(refused) >= 3:
                        break
            assert refused, "the 400 MiB store never filled"
            for r in refused:
                assert (r.status_code, r.json()["error"]) in (
                    (507, "storage_full"), (413, "quota_exceeded")), r.text
            for s, name in acked:
                r = s.get(name, stream=True)
                h = hashlib.sha256()
                for c in r.iter_content(1 << 20):
                    h.update(c)
                assert h.digest() == hashlib.sha256(bytes([int(name[1:])]) *
                                                    (8 * MiB)).digest(), name
            for s in ss:
                names = set(s.ls())
                assert names == {n for x, n in acked if x is s}, names
            for s, name in acked[: len(acked) // 2]:
                assert s.rm(name).status_code == 204
            subprocess.run(["btrfs", "filesystem", "sync", store], check=True)
            r = retry(lambda: ss[0].put("later", b"z" * MiB), codes=(507,), timeout=40)
            assert r.status_code == 200, r.text
            for s in ss:
                assert s.delete().status_code == 204
        assert not subvols(store, "sessions")
