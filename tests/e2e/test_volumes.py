"""test_volumes.py - /v1/volumes end to end through lighttpd, real Docker
and gVisor: every route (create, copy, list, get, delete, the file API
without a session), names (case-insensitive, the seed's rule), attach at
session create (volumeId at /memory, volumes[] rw/ro at allowed paths),
one read-write holder (the attach race: exactly one of many wins),
read-only enforcement (EROFS inside), the holds ending with the session;
and, on private deployments with a btrfs store of their own: tenant
isolation (404), the per-tenant counts and byte ceilings, the cap from
inside (EDQUOT/ENOSPC) and outside (413), 507 storage_full, a restart of
the service keeping rows, data and holds, and nothing left behind
(subvolumes, rows).

The contract tests run against $ISOBOX_URL (keyless). The private ones need
root, mkfs.btrfs and the isobox.fcgi named by $ISOBOX_FCGI_BIN.
"""
import concurrent.futures
import hashlib
import json
import os
import re
import subprocess
import sys
import uuid

import pytest
import requests

from conftest import BASE_URL, assert_error

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "helpers"))
import isobox_deploy as dep  # noqa: E402
import session_client as sc  # noqa: E402

MiB = 1024 * 1024
ID_RE = re.compile(r"^vol_[0-9a-f]{32}$")
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
FIELDS = {"id", "name", "createdAt", "diskBytes", "attachedRw", "sizeBytes",
          "usedBytes", "attachedTo"}
T = 120

needs_btrfs = pytest.mark.skipif(not sc.have_btrfs(), reason="needs root and btrfs-progs")


def uniq(prefix="t"):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:10])


class Vol:
    """One volume on base, with the calls the tests make."""

    def __init__(self, base, doc, headers=None):
        self.base = base.rstrip("/")
        self.doc = doc
        self.id = doc["id"]
        self.h = dict(headers or {})

    def url(self, sub=""):
        return "%s/v1/volumes/%s%s" % (self.base, self.id, sub)

    def info(self):
        return requests.get(self.url(), headers=self.h, timeout=T)

    def put(self, path, data, **kw):
        return requests.put(self.url("/fs"), params={"path": path}, data=data,
                            headers=dict(self.h, **kw.pop("headers", {})), timeout=T, **kw)

    def get(self, path="", **kw):
        return requests.get(self.url("/fs"), params={"path": path},
                            headers=dict(self.h, **kw.pop("headers", {})), timeout=T, **kw)

    def rm(self, path):
        return requests.delete(self.url("/fs"), params={"path": path}, headers=self.h,
                               timeout=T)

    def delete(self):
        return requests.delete(self.url(), headers=self.h, timeout=T)


def create(base, body, headers=None):
    return requests.post(base.rstrip("/") + "/v1/volumes", data=json.dumps(body),
                         headers=dict({"Content-Type": "application/json"}, **(headers or {})),
                         timeout=T)


def new_volume(base, headers=None, **body):
    body.setdefault("name", uniq())
    r = create(base, body, headers)
    assert r.status_code == 201, "create: %d %s" % (r.status_code, r.text[:500])
    return Vol(base, r.json(), headers)


@pytest.fixture
def vols():
    """Volumes made by a test (append), deleted afterwards with the
    sessions (sess) that might hold them, sessions first."""
    made = {"v": [], "s": []}
    yield made
    for s in made["s"]:
        try:
            s.delete()
        except requests.RequestException:
            pass
    for v in made["v"]:
        try:
            v.delete()
        except requests.RequestException:
            pass


def check_volume(doc):
    missing = FIELDS - set(doc)
    assert not missing, "volume lacks %s: %s" % (sorted(missing), doc)
    assert ID_RE.match(doc["id"]), doc
    assert TIME_RE.match(doc["createdAt"]), doc
    assert isinstance(doc["sizeBytes"], int) and doc["sizeBytes"] > 0
    assert set(doc["attachedTo"]) == {"readWrite", "readOnly"}, doc


def session(base, vols, headers=None, **fields):
    s = sc.new_session(base, headers, **fields)
    vols["s"].append(s)
    return s


# --------------------------------------------------------------------------
# the contract (any deployment)


def test_create_get_list_delete(vols):
    name = uniq("Data")
    r = create(BASE_URL, {"name": name})
    assert r.status_code == 201, r.text
    doc = r.json()
    check_volume(doc)
    v = Vol(BASE_URL, doc)
    vols["v"].append(v)
    assert doc["name"] == name and doc["sizeBytes"] == 512 * MiB
    assert doc["attachedRw"] is False and doc["attachedTo"]["readWrite"] is None
    got = v.info()
    assert got.status_code == 200 and got.json()["id"] == v.id
    listed = requests.get(BASE_URL + "/v1/volumes", timeout=T).json()["volumes"]
    assert v.id in [x["id"] for x in listed]
    # names are unique per tenant, case-insensitively
    assert_error(create(BASE_URL, {"name": name.upper()}), 409, "volume_name_exists")
    assert_error(create(BASE_URL, {"name": name.lower()}), 409, "volume_name_exists")
    assert v.delete().status_code == 204
    assert_error(v.info(), 404, "volume_not_found")
    assert_error(v.delete(), 404, "volume_not_found")
    # the name is free again
    w = new_volume(BASE_URL, name=name.lower(), sizeBytes=8 * MiB)
    vols["v"].append(w)
    assert w.doc["sizeBytes"] == 8 * MiB


@pytest.mark.parametrize("body,status,code", [
    ({"name": ""}, 400, "invalid_name"),
    ({"name": " lead"}, 400, "invalid_name"),
    ({"name": "-x"}, 400, "invalid_name"),
    ({"name": "a/b"}, 400, "invalid_name"),
    ({"name": "x" * 65}, 400, "invalid_name"),
    ({"name": "caf\u00e9"}, 400, "invalid_name"),
    ({"name": 5}, 400, "invalid_name"),
    ({"name": "ok", "sizeBytes": 0}, 400, "invalid_size"),
    ({"name": "ok", "sizeBytes": -1}, 400, "invalid_size"),
    ({"name": "ok", "sizeBytes": "1"}, 400, "invalid_size"),
    ({"name": "ok", "sizeBytes": 1 << 50}, 400, "invalid_size"),
    ({"name": "ok", "from": "vol_" + "0" * 32}, 404, "volume_not_found"),
    ({"name": "ok", "from": "../etc"}, 404, "volume_not_found"),
])
def test_create_errors(body, status, code):
    assert_error(create(BASE_URL, body), status, code)


def test_unknown_ids_and_routes():
    for vid in ("vol_" + "0" * 32, "vol_x", "sess_" + "0" * 32, "vol_" + "A" * 32):
        assert_error(requests.get(BASE_URL + "/v1/volumes/" + vid, timeout=T), 404,
                     "volume_not_found")
        assert_error(requests.delete(BASE_URL + "/v1/volumes/" + vid, timeout=T), 404,
                     "volume_not_found")
    assert_error(requests.get(BASE_URL + "/v1/volumes/vol_%s/fs" % ("0" * 32), timeout=T),
                 404, "volume_not_found")
    assert_error(requests.get(BASE_URL + "/v1/volumes/x/y", timeout=T), 404, "not_found")
    assert_error(requests.post(BASE_URL + "/v1/volumes/vol_%s" % ("0" * 32), timeout=T),
                 404, "not_found")


def test_files_without_a_session(vols):
    v = new_volume(BASE_URL)
    vols["v"].append(v)
    body = os.urandom(3 * MiB + 17)
    r = v.put("dir/sub/data.bin", body)
    assert r.status_code == 200, r.text
    assert r.json()["sha256"] == hashlib.sha256(body).hexdigest()
    assert r.json()["bytes"] == len(body)
    g = v.get("dir/sub/data.bin")
    assert g.status_code == 200 and g.content == body
    g = v.get("dir/sub/data.bin", headers={"Range": "bytes=10-19"})
    assert g.status_code == 206 and g.content == body[10:20]
    g = v.get("dir/sub/data.bin", headers={"Range": "bytes=-5"})
    assert g.status_code == 206 and g.content == body[-5:]
    ls = v.get("dir/sub").json()
    assert ls["dir"] is True and [e["name"] for e in ls["entries"]] == ["data.bin"]
    root = v.get("").json()
    assert [e["name"] for e in root["entries"]] == ["dir"]
    assert_error(v.get("../x"), 400, "invalid_path")
    assert_error(v.get("/etc/passwd"), 400, "invalid_path")
    assert_error(v.get("missing"), 404, "not_found")
    assert_error(v.put("", b"x"), 400, "invalid_path")
    assert v.rm("dir").status_code == 204
    assert v.rm("dir").status_code == 204  # a missing path is deleted
    assert_error(v.get("dir"), 404, "not_found")


def test_large_upload(vols):
    """Past the 9 MiB request cap of other routes: the web server gives
    volume file uploads the session uploads' cap (lighttpd/isobox.conf)."""
    v = new_volume(BASE_URL)
    vols["v"].append(v)
    body = os.urandom(24 * MiB)
    r = v.put("big.bin", body)
    assert r.status_code == 200, r.text[:300]
    assert r.json()["sha256"] == hashlib.sha256(body).hexdigest()
    g = v.get("big.bin")
    assert g.status_code == 200 and hashlib.sha256(g.content).digest() == \
        hashlib.sha256(body).digest()


def test_attach_memory_and_holds(vols):
    v = new_volume(BASE_URL)
    vols["v"].append(v)
    assert v.put("seed.txt", b"from outside").status_code == 200
    s = session(BASE_URL, vols, volumeId=v.id)
    assert s.doc["volumes"] == [{"id": v.id, "mountPath": "/memory", "mode": "rw"}]
    out = s.run("print(open('/memory/seed.txt').read())\n"
                "open('/memory/inside.txt','w').write('from a step')")
    assert out["run"]["stdout"] == "from outside\n", out
    doc = v.info().json()
    assert doc["attachedRw"] is True and doc["attachedTo"]["readWrite"] == s.id
    # while held read-write: no delete, no host-side writes; reads are fine
    assert_error(v.delete(), 409, "volume_busy")
    assert_error(v.put("x", b"x"), 409, "volume_locked")
    assert_error(v.rm("seed.txt"), 409, "volume_locked")
    assert v.get("inside.txt").content == b"from a step"
    # a second read-write attach is refused
    assert_error(sc.create(BASE_URL, {"runtime": "python", "volumeId": v.id}), 409,
                 "volume_locked")
    # a fork gets no volumes (the hold is the original's)
    f = requests.post(s.url("/fork"), headers=s.h(), timeout=T)
    assert f.status_code == 201, f.text
    fork = sc.Session(BASE_URL, f.json())
    vols["s"].append(fork)
    assert "volumes" not in f.json()
    assert fork.run("import os\nprint(os.path.exists('/memory/seed.txt'))")["run"][
        "stdout"] == "False\n"
    # the hold ends with the session
    assert s.delete().status_code == 204
    doc = v.info().json()
    assert doc["attachedRw"] is False and doc["attachedTo"]["readWrite"] is None
    assert v.put("after.txt", b"ok").status_code == 200
    s2 = session(BASE_URL, vols, volumes=[{"id": v.id, "mountPath": "/data", "mode": "rw"}])
    assert s2.run("print(sorted(__import__('os').listdir('/data')))")["run"]["stdout"] == \
        "['after.txt', 'inside.txt', 'seed.txt']\n"


def test_read_only_and_many_readers(vols):
    v = new_volume(BASE_URL)
    vols["v"].append(v)
    assert v.put("r.txt", b"shared").status_code == 200
    ro = [{"id": v.id, "mountPath": "/mnt/ref", "mode": "ro"}]
    r1 = session(BASE_URL, vols, volumes=ro)
    r2 = session(BASE_URL, vols, volumes=ro)
    w = session(BASE_URL, vols, volumes=[{"id": v.id, "mountPath": "/volumes/w", "mode": "rw"}])
    doc = v.info().json()
    assert sorted(doc["attachedTo"]["readOnly"]) == sorted([r1.id, r2.id])
    assert doc["attachedTo"]["readWrite"] == w.id
    code = ("import errno, os\nprint(open('/mnt/ref/r.txt').read())\n"
            "for op in (lambda: open('/mnt/ref/n.txt','w'), lambda: os.remove('/mnt/ref/r.txt'),"
            " lambda: os.mkdir('/mnt/ref/d')):\n"
            "    try:\n        op(); print('WROTE')\n"
            "    except OSError as e:\n        print(errno.errorcode[e.errno])\n")
    out = r1.run(code)["run"]["stdout"].split()
    assert out == ["shared", "EROFS", "EROFS", "EROFS"], out
    # the writer's changes reach the readers
    w.run("open('/volumes/w/r2.txt','w').write('later')")
    assert r2.run("print(open('/mnt/ref/r2.txt').read())")["run"]["stdout"] == "later\n"
    assert_error(v.delete(), 409, "volume_busy")
    for s in (r1, r2, w):
        assert s.delete().status_code == 204
    assert v.info().json()["attachedTo"] == {"readWrite": None, "readOnly": []}


@pytest.mark.parametrize("path", [
    "/", "/workspace", "/workspace/x", "/tmp", "/box", "/etc", "/proc", "/usr/lib",
    "/dev/x", "/.isobox", "/data/..", "/mnt/../etc", "/mnt/.hidden", "/mnt", "/mnt/a/b",
    "data", "/memory/", "/data//x", "/volumes/" + "x" * 49, "/sys/fs",
])
def test_mount_path_rules(path):
    r = sc.create(BASE_URL, {"runtime": "python", "volumes": [
        {"id": "vol_" + "0" * 32, "mountPath": path, "mode": "rw"}]})
    assert_error(r, 400, "invalid_mount_path")


def test_attach_errors(vols):
    v = new_volume(BASE_URL)
    vols["v"].append(v)
    w = new_volume(BASE_URL)
    vols["v"].append(w)
    bad = [
        ({"volumes": [{"id": v.id, "mountPath": "/data", "mode": "rx"}]}, 400,
         "invalid_request"),
        ({"volumes": [{"id": v.id}]}, 400, "invalid_request"),
        ({"volumes": "x"}, 400, "invalid_request"),
        ({"volumes": [{"id": v.id, "mountPath": "/data", "mode": "ro"},
                      {"id": v.id, "mountPath": "/mnt/b", "mode": "ro"}]}, 400,
         "invalid_request"),
        ({"volumes": [{"id": v.id, "mountPath": "/data", "mode": "ro"},
                      {"id": w.id, "mountPath": "/data", "mode": "ro"}]}, 400,
         "invalid_request"),
        ({"volumes": [{"id": "vol_" + "1" * 32, "mountPath": "/data", "mode": "rw"}]}, 404,
         "volume_not_found"),
        ({"volumeId": "nope"}, 404, "volume_not_found"),
        ({"volumes": [{"id": "x", "mountPath": "/mnt/%d" % i, "mode": "ro"}
                      for i in range(5)]}, 400, "invalid_request"),
    ]
    for body, status, code in bad:
        body["runtime"] = "python"
        assert_error(sc.create(BASE_URL, body), status, code)
    # a failed create holds nothing
    assert v.info().json()["attachedTo"] == {"readWrite": None, "readOnly": []}
    # both volumes, one of each mode
    s = session(BASE_URL, vols, volumes=[{"id": v.id, "mountPath": "/data", "mode": "ro"},
                                         {"id": w.id, "mountPath": "/memory", "mode": "rw"}])
    assert v.info().json()["attachedTo"]["readOnly"] == [s.id]
    assert w.info().json()["attachedTo"]["readWrite"] == s.id


def test_attach_race(vols):
    """Many sessions ask for the same volume read-write at once: exactly
    one wins, the others get 409 volume_locked."""
    v = new_volume(BASE_URL)
    vols["v"].append(v)
    n = 8

    def one(_):
        return sc.create(BASE_URL, {"runtime": "python", "volumeId": v.id})

    with concurrent.futures.ThreadPoolExecutor(n) as ex:
        rs = list(ex.map(one, range(n)))
    won = [r for r in rs if r.status_code == 201]
    for r in won:
        vols["s"].append(sc.Session(BASE_URL, r.json()))
    assert len(won) == 1, [(r.status_code, r.text[:200]) for r in rs]
    for r in rs:
        if r.status_code != 201:
            assert_error(r, 409, "volume_locked")
    assert v.info().json()["attachedTo"]["readWrite"] == won[0].json()["id"]


def test_snapshot_copy(vols):
    v = new_volume(BASE_URL, sizeBytes=64 * MiB)
    vols["v"].append(v)
    body = os.urandom(5 * MiB)
    assert v.put("big.bin", body).status_code == 200
    r = create(BASE_URL, {"name": uniq("copy"), "from": v.id})
    assert r.status_code == 201, r.text
    c = Vol(BASE_URL, r.json())
    vols["v"].append(c)
    assert r.json()["copiedFrom"] == v.id and r.json()["sizeBytes"] == 64 * MiB
    assert c.get("big.bin").content == body
    # independent afterwards
    assert c.put("big.bin", b"changed").status_code == 200
    assert v.get("big.bin").content == body
    assert v.rm("big.bin").status_code == 204
    assert c.get("big.bin").content == b"changed"
    r = create(BASE_URL, {"name": uniq("copy"), "from": v.id, "sizeBytes": 16 * MiB})
    assert r.status_code == 201 and r.json()["sizeBytes"] == 16 * MiB
    vols["v"].append(Vol(BASE_URL, r.json()))


# --------------------------------------------------------------------------
# private deployments


tmp_root = sc.tmp_root_fixture("isobox-volumes-")


def subvolumes(store):
    return sc.subvolumes(store, "volumes")


@needs_btrfs
def test_tenants_counts_and_caps(tmp_root):
    keys, kf = sc.keys_file(tmp_root, ["alice", "bob"], "keys-volumes.yaml")
    with sc.btrfs_store(tmp_root, "2G") as store:
        cfg = {"keys_file": kf, "volume_max_per_tenant": 3,
               "volume_max_total_bytes_per_tenant": "150MiB", "volume_max_bytes": "128MiB"}
        with sc.deployment(tmp_root, store, cfg, name="vcaps") as d:
            A = {"X-API-Key": keys["alice"]}
            B = {"X-API-Key": keys["bob"]}
            made = {"v": [], "s": []}
            try:
                assert_error(create(d.url, {"name": "x"}), 401, "unauthorized")
                a1 = new_volume(d.url, A, name="Notes", sizeBytes=32 * MiB)
                made["v"].append(a1)
                # another tenant may use the same name
                b1 = new_volume(d.url, B, name="notes", sizeBytes=8 * MiB)
                made["v"].append(b1)
                # another tenant's volume does not exist
                stolen = Vol(d.url, {"id": a1.id}, B)
                assert_error(stolen.info(), 404, "volume_not_found")
                assert_error(stolen.get(""), 404, "volume_not_found")
                assert_error(stolen.put("x", b"x"), 404, "volume_not_found")
                assert_error(stolen.rm("x"), 404, "volume_not_found")
                assert_error(stolen.delete(), 404, "volume_not_found")
                assert_error(create(d.url, {"name": "c", "from": a1.id}, B), 404,
                             "volume_not_found")
                assert_error(sc.create(d.url, {"runtime": "python", "volumeId": a1.id}, B),
                             404, "volume_not_found")
                ids = [x["id"] for x in requests.get(d.url + "/v1/volumes", headers=B,
                                                     timeout=T).json()["volumes"]]
                assert ids == [b1.id]
                # the byte ceiling, the largest cap, then the count
                assert_error(create(d.url, {"name": "big", "sizeBytes": 129 * MiB}, A), 400,
                             "invalid_size")
                assert_error(create(d.url, {"name": "big", "sizeBytes": 128 * MiB}, A),
                             429, "volume_bytes_exceeded")
                made["v"].append(new_volume(d.url, A, sizeBytes=8 * MiB))
                made["v"].append(new_volume(d.url, A, sizeBytes=8 * MiB))
                r = create(d.url, {"name": "four", "sizeBytes": 8 * MiB}, A)
                assert_error(r, 429, "too_many_volumes")
                # the cap: EDQUOT/ENOSPC inside, 413 outside, nothing lost
                assert a1.put("keep.txt", b"precious").status_code == 200
                s = sc.new_session(d.url, A, volumeId=a1.id)
                made["s"].append(s)
                sc.fill_until_full(s, "/memory/fill.bin", 32)
                assert s.delete().status_code == 204
                assert_error(a1.put("more.bin", os.urandom(8 * MiB)), 413,
                             "volume_quota_exceeded")
                assert a1.get("keep.txt").content == b"precious"
                assert a1.rm("fill.bin").status_code == 204
                assert a1.put("more.bin", os.urandom(8 * MiB)).status_code == 200
            finally:
                for s in made["s"]:
                    s.delete()
                for v in made["v"]:
                    v.delete()
            assert dep.wait_for(lambda: not subvolumes(store), 10), subvolumes(store)


@needs_btrfs
def test_storage_full(tmp_root):
    with sc.btrfs_store(tmp_root, "1G") as store:
        with sc.deployment(tmp_root, store, {"store_reserve_bytes": "100GiB"},
                           name="vfull") as d:
            assert_error(create(d.url, {"name": "x"}), 507, "storage_full")
        assert not subvolumes(store)


@needs_btrfs
def test_restart_keeps_everything(tmp_root):
    with sc.btrfs_store(tmp_root, "2G") as store:
        state = os.path.join(tmp_root, "vrestart-state")
        run = os.path.join(tmp_root, "vrestart-run")
        os.makedirs(state)
        os.makedirs(run)
        d1 = sc.deployment(tmp_root, store, name="vr1", state=state, run=run).start()
        try:
            v = new_volume(d1.url, name="Keep", sizeBytes=16 * MiB)
            assert v.put("a.txt", b"before").status_code == 200
            s = sc.new_session(d1.url, volumes=[{"id": v.id, "mountPath": "/data",
                                                 "mode": "rw"}])
            s.run("open('/data/b.txt','w').write('inside')")
        finally:
            d1.stop()
        d2 = sc.deployment(tmp_root, store, name="vr2", state=state, run=run).start()
        try:
            v.base = s.base = d2.url
            doc = v.info().json()
            assert doc["name"] == "Keep" and doc["sizeBytes"] == 16 * MiB
            assert doc["attachedTo"]["readWrite"] == s.id
            assert_error(create(d2.url, {"name": "keep"}), 409, "volume_name_exists")
            out = s.run("print(open('/data/a.txt').read(), open('/data/b.txt').read())")
            assert out["run"]["stdout"] == "before inside\n", out
            assert s.delete().status_code == 204
            assert v.info().json()["attachedRw"] is False
            assert v.get("b.txt").content == b"inside"
            assert v.delete().status_code == 204
            assert requests.get(d2.url + "/v1/volumes", timeout=T).json()["volumes"] == []
        finally:
            d2.stop()
        assert dep.wait_for(lambda: not subvolumes(store), 10), subvolumes(store)


@needs_btrfs
def test_nothing_left_behind(tmp_root):
    """Volumes, copies and attached sessions come and go: no row, subvolume
    or session stays behind."""
    with sc.btrfs_store(tmp_root, "2G") as store:
        with sc.deployment(tmp_root, store, name="vleaks", procs=1) as d:
            for i in range(4):
                v = new_volume(d.url, sizeBytes=16 * MiB)
                v.put("f", str(i).encode())
                c = new_volume(d.url, **{"from": v.id})
                with sc.sessions(d.url, volumes=[{"id": v.id, "mountPath": "/data",
                                                  "mode": "rw"},
                                                 {"id": c.id, "mountPath": "/mnt/c",
                                                  "mode": "ro"}]) as s:
                    out = s.run("print(open('/mnt/c/f').read())")
                    assert out["run"]["stdout"] == "%d\n" % i
                assert c.delete().status_code == 204
                assert v.delete().status_code == 204
            assert requests.get(d.url + "/v1/volumes", timeout=T).json()["volumes"] == []
            assert dep.wait_for(lambda: not subvolumes(store), 10), subvolumes(store)
            # and no qgroup (the kernel drops them once the trees are freed, or
            # the reconciliation's sweep does)
            assert dep.wait_for(lambda: qgroups(store) == [], 60), qgroups(store)


def qgroups(store):
    """Level-0 qgroups of store other than its top level (0/5)."""
    subprocess.run(["btrfs", "filesystem", "sync", store], capture_output=True)
    out = subprocess.run(["btrfs", "qgroup", "show", store], capture_output=True,
                         text=True).stdout
    return [ln.split()[0] for ln in out.splitlines()
            if ln.startswith("0/") and not ln.startswith("0/5 ")]


@needs_btrfs
@pytest.mark.disruptive
def test_dockerd_restart(tmp_root):
    """Stops the host's dockerd and starts it again (as test_sessions'
    test_dockerd_restart): the volume, its data and the session's hold are
    kept; the next step mounts the volume again."""
    with sc.btrfs_store(tmp_root, "2G") as store:
        with sc.deployment(tmp_root, store, name="vdockerd") as d:
            v = new_volume(d.url, sizeBytes=16 * MiB)
            try:
                with sc.sessions(d.url, volumeId=v.id) as s:
                    s.run("open('/memory/a.txt','w').write('survives')")
                    sc.restart_dockerd()
                    r = sc.exec_until_ok(s, "print(open('/memory/a.txt').read())")
                    assert r.status_code == 200, r.text
                    assert r.json()["run"]["stdout"] == "survives\n"
                    assert v.info().json()["attachedTo"]["readWrite"] == s.id
                assert v.info().json()["attachedRw"] is False
                assert v.get("a.txt").content == b"survives"
            finally:
                v.delete()
