"""test_sessions.py - /v1/sessions end to end through lighttpd, real Docker
and gVisor: every route, field, status and error code of the contract (the
seed's plus GET/list, PATCH, interrupt, fork, sha256 and Range), steps that
keep their workspace, SSE, busy and interrupt, 64 MiB transfers, fork,
delete; and, on private deployments with a btrfs store of their own: tenant
isolation, session counts, the disk cap (EDQUOT inside, 413 outside), idle
stop and restart, expiry, a restart of the whole service, kill -9 of the
process running a step, and a dockerd restart (disruptive).

The contract tests run against $ISOBOX_URL (keyless). The private ones need
root, mkfs.btrfs and the isobox.fcgi named by $ISOBOX_FCGI_BIN.
"""
import hashlib
import os
import re
import signal
import sys
import threading
import time

import pytest
import requests

from conftest import BASE_URL, assert_error, sse_collect

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "helpers"))
import isobox_deploy as dep  # noqa: E402
import session_client as sc  # noqa: E402

MiB = 1024 * 1024
ID_RE = re.compile(r"^sess_[0-9a-f]{32}$")
TOKEN_RE = re.compile(r"^tok_[0-9a-f]{64}$")
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
FIELDS = {"id", "state", "runtime", "type", "createdAt", "lastActivityAt",
          "expiresAt", "diskBytes", "diskQuotaBytes", "steps", "ttlSec"}

needs_btrfs = pytest.mark.skipif(not sc.have_btrfs(), reason="needs root and btrfs-progs")


def check_session(doc):
    missing = FIELDS - set(doc)
    assert not missing, "session lacks %s: %s" % (sorted(missing), doc)
    assert ID_RE.match(doc["id"]), doc["id"]
    assert doc["state"] in ("running", "stopped", "busy"), doc
    assert doc["type"] == "filesystem"
    for k in ("createdAt", "lastActivityAt", "expiresAt"):
        assert TIME_RE.match(doc[k]), (k, doc[k])
    assert isinstance(doc["steps"], int) and doc["steps"] >= 0
    assert doc["diskQuotaBytes"] > 0


# --------------------------------------------------------------------------
# create, get, list


def test_create_get_list_delete():
    r = sc.create(BASE_URL)
    assert r.status_code == 201, r.text
    doc = r.json()
    check_session(doc)
    assert TOKEN_RE.match(doc["token"]), doc["token"]
    assert doc["runtime"] == "python" and doc["steps"] == 0
    s = sc.Session(BASE_URL, doc)
    try:
        g = s.info()
        assert g.status_code == 200
        got = g.json()
        check_session(got)
        assert "token" not in got, "the token is shown once, at create"
        assert got["id"] == s.id and got["createdAt"] == doc["createdAt"]
        lst = requests.get(BASE_URL + "/v1/sessions", timeout=30)
        assert lst.status_code == 200
        mine = [x for x in lst.json()["sessions"] if x["id"] == s.id]
        assert len(mine) == 1 and "token" not in mine[0]
    finally:
        d = s.delete()
    assert d.status_code == 204, d.text
    assert_error(s.info(), 404, "session_not_found")
    assert_error(s.delete(), 404, "session_not_found")
    assert not sc.session_containers(s.id), "its sandbox outlived DELETE"


@pytest.mark.parametrize("body,status,code", [
    (b"{", 400, "invalid_json"),
    (b"[1]", 400, "invalid_json"),
    ({}, 400, "runtime_required"),
    ({"runtime": ""}, 400, "runtime_required"),
    ({"runtime": "lua", "type": "kernel"}, 400, "kernel_unavailable"),
    ({"runtime": "python", "type": "vm"}, 400, "invalid_field"),
    ({"runtime": "python", "volumeId": "vol_1"}, 404, "volume_not_found"),
    ({"runtime": "python", "ttlSec": "soon"}, 400, "invalid_ttl"),
    ({"runtime": "python", "limits": {"memoryBytes": -1}}, 400, "invalid_field"),
    ({"runtime": "no-such-language-xyz"}, 400, None),
])
def test_create_errors(body, status, code):
    if isinstance(body, bytes):
        r = requests.post(BASE_URL + "/v1/sessions", data=body,
                          headers={"Content-Type": "application/json"}, timeout=30)
    else:
        r = sc.create(BASE_URL, body)
    if r.status_code == 201:
        sc.Session(BASE_URL, r.json()).delete()
    e = assert_error(r, status, code)
    if code == "runtime_required":
        assert "/runtimes" in e["message"]


def test_create_body_cap():
    r = requests.post(BASE_URL + "/v1/sessions", data=b"{" + b" " * (300 * 1024) + b"}",
                      headers={"Content-Type": "application/json"}, timeout=30)
    assert_error(r, 413)


def test_ttl_default_and_clamp():
    with sc.sessions(BASE_URL, ttlSec=0) as s:
        assert s.doc["ttlSec"] == 86400  # the seed's default
    with sc.sessions(BASE_URL, ttlSec=10 ** 9) as s:
        assert 0 < s.doc["ttlSec"] <= 366 * 86400, "ttlSec is bounded"
    with sc.sessions(BASE_URL, ttlSec=120) as s:
        assert s.doc["ttlSec"] == 120


def test_token_and_tenant_rules():
    with sc.sessions(BASE_URL) as s:
        for hdr in ({}, {"X-Session-Token": "tok_" + "0" * 64},
                    {"X-Session-Token": s.token[:-1]}, {"X-Session-Token": ""}):
            assert_error(requests.get(s.url(), headers=hdr, timeout=30), 401,
                         "invalid_session_token")
            assert_error(requests.post(s.url("/exec"), json={"code": "print(1)"},
                                       headers=hdr, timeout=30), 401, "invalid_session_token")
            assert_error(requests.get(s.url("/fs"), headers=hdr, timeout=30), 401,
                         "invalid_session_token")
        other = "sess_" + "0" * 32
        assert_error(requests.get(BASE_URL + "/v1/sessions/" + other,
                                  headers=s.h(), timeout=30), 404, "session_not_found")
        assert_error(requests.get(BASE_URL + "/v1/sessions/nope/../x",
                                  headers=s.h(), timeout=30), 404)
        assert_error(requests.post(s.url("/nosuch"), headers=s.h(), timeout=30), 404)


# --------------------------------------------------------------------------
# steps


def test_steps_share_the_workspace():
    with sc.sessions(BASE_URL) as s:
        a = s.run("import os\nprint(os.getcwd())\nopen('state.txt','w').write('41')")
        assert a["run"]["stdout"] == "/workspace\n", a
        assert a["run"]["exitCode"] == 0 and a["language"] == "python"
        for k in ("version", "backend", "limits", "sandboxRestarted"):
            assert k in a, a
        b = s.run(None, files=[
            {"name": "main.py", "content": "n = int(open('state.txt').read()) + 1\nprint(n)"},
            {"name": "extra.txt", "content": "x"}], language="ignored-anyway")
        assert b["run"]["stdout"] == "42\n", b
        assert "extra.txt" in s.ls(), "request files land in /workspace"
        c = s.run("import sys\nsys.stderr.write('e')\nsys.exit(3)")
        assert c["run"]["exitCode"] == 3 and c["run"]["stderr"] == "e"
        info = s.info().json()
        assert info["steps"] == 3, info
        assert info["state"] == "running", info


def test_step_limits_and_timeout():
    with sc.sessions(BASE_URL) as s:
        a = s.run("import time\ntime.sleep(5)", limits={"wallTimeMs": 500})
        assert a["run"]["timedOut"] is True, a
        b = s.run("print('x' * 5000)", limits={"outputBytes": 1024})
        assert b["run"]["truncated"] is True, b
        # The session survives both.
        assert s.run("print(7)")["run"]["stdout"] == "7\n"


def test_step_sse():
    with sc.sessions(BASE_URL) as s:
        r = s.exec("import time\nprint('a', flush=True)\ntime.sleep(0.3)\nprint('b')",
                   stream=True)
        assert r.status_code == 200
        assert r.headers["Content-Type"].startswith("text/event-stream")
        evs = sse_collect(r)
        names = [e[0] for e in evs]
        assert "stdout" in names and names[-1] == "done", names
        done = evs[-1][1]
        assert done["run"]["stdout"] == "a\nb\n" and "sandboxRestarted" in done


def test_busy_and_interrupt():
    with sc.sessions(BASE_URL) as s:
        s.run("print(1)")
        assert_error(requests.post(s.url("/interrupt"), headers=s.h(), timeout=30), 409,
                     "session_idle")
        out = {}

        def long_step():
            out["r"] = s.exec("import time\ntry:\n    time.sleep(30)\n"
                              "except KeyboardInterrupt:\n    print('interrupted')\n",
                              limits={"wallTimeMs": 20000})

        t = threading.Thread(target=long_step)
        t.start()
        assert sc.wait_state(s, "busy", 10) == "busy"
        time.sleep(0.5)
        r = s.exec("print(2)")
        e = assert_error(r, 409, "session_busy")
        assert r.headers.get("Retry-After") == "1", e
        assert_error(s.get("x"), 409, "session_busy")
        t0 = time.monotonic()
        i = requests.post(s.url("/interrupt"), headers=s.h(), timeout=30)
        assert i.status_code == 202, i.text
        t.join(30)
        assert time.monotonic() - t0 < 10, "the interrupt did not end the step"
        res = out["r"].json()
        assert "interrupted" in res["run"]["stdout"], res
        assert s.run("print(3)")["run"]["stdout"] == "3\n"


def test_patch_ttl():
    with sc.sessions(BASE_URL, ttlSec=60) as s:
        before = s.info().json()["expiresAt"]
        r = requests.patch(s.url(), json={"ttlSec": 3600}, headers=s.h(), timeout=30)
        assert r.status_code == 200, r.text
        doc = r.json()
        check_session(doc)
        assert doc["ttlSec"] == 3600 and doc["expiresAt"] > before
        assert_error(requests.patch(s.url(), json={"ttlSec": "x"}, headers=s.h(),
                                    timeout=30), 400, "invalid_ttl")
        assert_error(requests.patch(s.url(), json={}, headers=s.h(), timeout=30), 400,
                     "invalid_ttl")
        assert_error(requests.patch(s.url(), json={"ttlSec": 5}, timeout=30), 401,
                     "invalid_session_token")


# --------------------------------------------------------------------------
# files


def test_files_contract():
    with sc.sessions(BASE_URL) as s:
        data = b"hello, workspace\n"
        r = s.put("dir/sub/a.txt", data)
        assert r.status_code == 200, r.text
        assert r.json() == {"path": "dir/sub/a.txt", "bytes": len(data),
                            "sha256": hashlib.sha256(data).hexdigest()}
        g = s.get("dir/sub/a.txt")
        assert g.status_code == 200 and g.content == data
        assert g.headers["Content-Type"] == "application/octet-stream"
        assert g.headers["Content-Length"] == str(len(data))
        part = s.get("dir/sub/a.txt", headers={"Range": "bytes=7-15"})
        assert part.status_code == 206 and part.content == data[7:16]
        assert part.headers["Content-Range"] == "bytes 7-15/%d" % len(data)
        tail = s.get("dir/sub/a.txt", headers={"Range": "bytes=-5"})
        assert tail.status_code == 206 and tail.content == data[-5:]
        assert_error(s.get("dir/sub/a.txt", headers={"Range": "bytes=100-"}), 416)
        top = s.ls()
        assert top["dir"]["dir"] is True and top["dir"]["type"] == "dir"
        ent = s.ls("dir/sub")["a.txt"]
        assert ent["type"] == "file" and ent["size"] == len(data) and ent["dir"] is False
        assert ent["mode"] & 0o777 == 0o644 and TIME_RE.match(ent["modTime"])
        names = list(s.ls().keys())
        assert names == sorted(names)
        # the program sees the upload, the API sees the program's file
        out = s.run("print(open('dir/sub/a.txt').read(), end='')\n"
                    "open('made.bin','wb').write(bytes(range(256)))")
        assert out["run"]["stdout"] == data.decode()
        assert s.get("made.bin").content == bytes(range(256))
        # coherent both ways between steps: replaced, grown, deleted
        for content in (b"1", b"22", b"333" * 1000, b"4"):
            assert s.put("co.txt", content).status_code == 200
            out = s.run("import sys\nsys.stdout.write(open('co.txt').read())")
            assert out["run"]["stdout"] == content.decode()
            s.run("open('co.txt', 'a').write('+')")
            assert s.get("co.txt").content == content + b"+"
        assert s.rm("co.txt").status_code == 204
        assert s.run("import os\nprint(os.path.exists('co.txt'))")["run"]["stdout"] == "False\n"
        assert_error(s.put("dir", b"x"), 400, "is_a_directory")
        assert_error(s.get("missing.txt"), 404, "not_found")
        assert s.rm("dir").status_code == 204
        assert s.rm("dir").status_code == 204, "deleting a missing path is fine"
        assert "dir" not in s.ls()
        assert_error(s.rm(""), 400, "invalid_path")
        assert_error(requests.put(s.url("/fs"), data=b"x", headers=s.h(), timeout=30), 400,
                     "path_required")


@pytest.mark.parametrize("path", ["../x", "a/../../x", "/etc/passwd", "a/./b", "a//b",
                                  "..", "x" * 300, "/".join(["y" * 250] * 17),
                                  "/".join(["z"] * 200)])
def test_bad_paths(path):
    with sc.sessions(BASE_URL) as s:
        for r in (s.get(path), s.put(path, b"1"), s.rm(path)):
            assert_error(r, 400, "invalid_path")


def test_nul_in_path():
    """%00 never names a file: the web server refuses it (lighttpd answers
    400 itself), or the service does (400 invalid_path)."""
    with sc.sessions(BASE_URL) as s:
        for r in (s.get("a\x00b"), s.put("a\x00b", b"1"), s.rm("a\x00b")):
            assert r.status_code == 400, r.text


def test_large_upload_and_download():
    blob = os.urandom(64 * MiB)
    with sc.sessions(BASE_URL) as s:
        t0 = time.monotonic()
        r = s.put("big.bin", blob)
        assert r.status_code == 200, r.text
        assert r.json()["sha256"] == hashlib.sha256(blob).hexdigest()
        g = s.get("big.bin", stream=True)
        h = hashlib.sha256()
        n = 0
        for chunk in g.iter_content(1 << 20):
            h.update(chunk)
            n += len(chunk)
        assert n == len(blob) and h.hexdigest() == hashlib.sha256(blob).hexdigest()
        assert time.monotonic() - t0 < 60
        out = s.run("import hashlib\nprint(hashlib.sha256(open('big.bin','rb').read())"
                    ".hexdigest())")
        assert out["run"]["stdout"].strip() == hashlib.sha256(blob).hexdigest()
        over = s.put("over.bin", blob + b"x")
        assert_error(over, 413, "too_large")
        assert "over.bin" not in s.ls()


def test_chunked_upload():
    """A body without Content-Length (chunked): streamed, hashed, landed."""
    with sc.sessions(BASE_URL) as s:
        body, digest = sc.chunked_body(5 * MiB + 123)
        r = s.put("chunked.bin", body)
        assert r.status_code == 200, r.text
        assert r.json()["bytes"] == 5 * MiB + 123
        assert r.json()["sha256"] == digest
        g = s.get("chunked.bin")
        assert hashlib.sha256(g.content).hexdigest() == digest


def test_chunked_upload_over_cap():
    """A chunked body that grows past session_max_upload_bytes (64 MiB)
    gets the JSON 413 and leaves nothing, like a declared one."""
    with sc.sessions(BASE_URL) as s:
        body, _ = sc.chunked_body(64 * MiB + 1)
        assert_error(s.put("over.bin", body), 413, "too_large")
        names = s.ls()
        assert "over.bin" not in names
        assert not [n for n in names if n.startswith(".isobox-tmp")], names


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_cut_upload_leaves_nothing(chunked):
    """A connection cut in the middle of an upload's body: the file it
    would replace is intact, no part of the new one lands."""
    with sc.sessions(BASE_URL) as s:
        sc.check_cut_upload(s, chunked)


def test_fork():
    with sc.sessions(BASE_URL) as s:
        s.run("open('a.txt','w').write('from parent')")
        s.put("b.txt", b"uploaded")
        r = requests.post(s.url("/fork"), headers=s.h(), timeout=60)
        assert r.status_code == 201, r.text
        doc = r.json()
        check_session(doc)
        assert doc["id"] != s.id and TOKEN_RE.match(doc["token"])
        f = sc.Session(BASE_URL, doc)
        try:
            assert f.get("a.txt").content == b"from parent"
            assert f.run("print(open('b.txt').read())")["run"]["stdout"] == "uploaded\n"
            f.put("a.txt", b"changed in fork")
            assert s.get("a.txt").content == b"from parent"
            assert_error(requests.post(s.url("/fork"), timeout=30), 401,
                         "invalid_session_token")
        finally:
            f.delete()


# --------------------------------------------------------------------------
# private deployments


tmp_root = sc.tmp_root_fixture("isobox-sessions-")


def subvolumes(store):
    return sc.subvolumes(store, "sessions")


@needs_btrfs
def test_tenants_counts_and_caps(tmp_root):
    keys, kf = sc.keys_file(tmp_root, ["alice", "bob"])
    with sc.btrfs_store(tmp_root, "2G") as store:
        cfg = {"keys_file": kf, "session_max_per_tenant": 2, "session_max": 3,
               "session_disk_bytes": "48MiB"}
        with sc.deployment(tmp_root, store, cfg, name="caps") as d:
            A = {"X-API-Key": keys["alice"]}
            B = {"X-API-Key": keys["bob"]}
            assert_error(sc.create(d.url), 401, "unauthorized")
            made = []
            try:
                a1 = sc.new_session(d.url, A)
                made.append(a1)
                a2 = sc.new_session(d.url, A)
                made.append(a2)
                r = sc.create(d.url, headers=A)
                assert_error(r, 429, "too_many_sessions")
                assert r.headers.get("Retry-After") == "5"
                b1 = sc.new_session(d.url, B)
                made.append(b1)
                assert_error(sc.create(d.url, headers=B), 429, "too_many_sessions")
                # another tenant's session does not exist, token or not
                stolen = sc.Session(d.url, {"id": a1.id, "token": a1.token}, B)
                assert_error(stolen.info(), 404, "session_not_found")
                assert_error(stolen.exec("print(1)"), 404, "session_not_found")
                assert_error(stolen.get(""), 404, "session_not_found")
                assert_error(stolen.delete(), 404, "session_not_found")
                ids = {x["id"] for x in requests.get(d.url + "/v1/sessions", headers=B,
                                                     timeout=30).json()["sessions"]}
                assert ids == {b1.id}
                # the disk cap: EDQUOT/ENOSPC inside, 413 outside, nothing lost
                assert a1.info().json()["diskQuotaBytes"] == 48 * MiB
                a1.put("keep.txt", b"precious")
                sc.fill_until_full(a1, "fill.bin", 48)
                assert_error(a1.put("more.bin", os.urandom(8 * MiB)), 413, "quota_exceeded")
                assert a1.get("keep.txt").content == b"precious"
                assert a1.rm("fill.bin").status_code == 204
                assert a1.put("more.bin", os.urandom(8 * MiB)).status_code == 200
            finally:
                for s in made:
                    s.delete()
            assert dep.wait_for(lambda: not subvolumes(store), 10), subvolumes(store)


@needs_btrfs
def test_first_call_waits_for_the_starting_sandbox(tmp_root):
    """Create answers before the session's sandbox starts (a thread of the
    process starts it, a lifecycle hold). A first upload, step or delete
    that comes while it starts waits for it, however short queue_timeout_ms
    is: the start (admission, the engine's create and start) is bounded by
    the engine's timeouts, not by the slot queue's. Stop 31's CI had a soak
    client get 409 session_busy on its first call, with the slot queue's
    10 s, on a loaded machine; here queue_timeout_ms is 50 ms, which any
    gVisor start outlasts."""
    with sc.btrfs_store(tmp_root, "2G") as store:
        cfg = {"queue_timeout_ms": 50}
        with sc.deployment(tmp_root, store, cfg, name="life") as d:
            for i in range(3):
                s = sc.new_session(d.url)
                try:
                    if i == 0:
                        r = s.put("first.txt", b"first call")
                        assert r.status_code == 200, r.text
                        out = s.run("print(open('first.txt').read())")
                        assert out["run"]["stdout"] == "first call\n", out
                    elif i == 1:
                        out = s.run("print(6 * 7)")
                        assert out["run"]["stdout"] == "42\n", out
                        assert out["sandboxRestarted"] is False, out
                finally:
                    r = s.delete()
                    assert r.status_code == 204, r.text
                assert dep.wait_for(lambda: not sc.session_containers(s.id), 20), s.id
        assert not subvolumes(store)


@needs_btrfs
def test_idle_stop_expiry_and_host_path(tmp_root):
    with sc.btrfs_store(tmp_root, "2G") as store:
        cfg = {"session_idle_stop_ms": 2000}
        with sc.deployment(tmp_root, store, cfg, name="idle") as d:
            with sc.sessions(d.url) as s:
                s.run("open('w.txt','w').write('kept')")
                assert len(sc.session_containers(s.id)) == 1
                assert sc.wait_state(s, "stopped", 20) == "stopped"
                assert dep.wait_for(lambda: not sc.session_containers(s.id), 10)
                # stopped: the file API works beneath the subvolume, alike
                assert s.get("w.txt").content == b"kept"
                r = s.put("up.txt", b"while stopped")
                assert r.status_code == 200 and r.json()["bytes"] == 13
                ls = s.ls()
                assert set(ls) >= {"w.txt", "up.txt", "main.py"}
                assert ls["up.txt"]["mode"] & 0o777 == 0o644
                assert_error(s.get("nope"), 404, "not_found")
                a = s.run("print(open('w.txt').read(), open('up.txt').read())")
                assert a["run"]["stdout"] == "kept while stopped\n"
                assert a["sandboxRestarted"] is True, a
                b = s.run("print(1)")
                assert b["sandboxRestarted"] is False
            # expiry
            e = sc.new_session(d.url, ttlSec=3)
            e.run("print(1)")
            assert dep.wait_for(lambda: e.info().status_code == 404, 20), e.info().text
            assert dep.wait_for(lambda: not sc.session_containers(e.id), 10)
            assert dep.wait_for(lambda: e.id not in subvolumes(store), 10)
            # a file call refreshes the idle timer
            with sc.sessions(d.url, ttlSec=4) as k:
                for _ in range(4):
                    time.sleep(2)
                    assert k.ls() is not None
                assert k.info().status_code == 200
        assert not subvolumes(store)


@needs_btrfs
def test_service_restart_and_kill9(tmp_root):
    with sc.btrfs_store(tmp_root, "2G") as store:
        state = os.path.join(tmp_root, "restart-state")
        run = os.path.join(tmp_root, "restart-run")
        os.makedirs(state)
        os.makedirs(run)
        d1 = sc.deployment(tmp_root, store, name="r1", state=state, run=run).start()
        try:
            s = sc.new_session(d1.url)
            s.run("open('a.txt','w').write('before')")
        finally:
            d1.stop()
        d2 = sc.deployment(tmp_root, store, name="r2", state=state, run=run).start()
        try:
            s.base = d2.url
            out = s.run("print(open('a.txt').read())")
            assert out["run"]["stdout"] == "before\n", out
            # kill -9 of the process running a step fails that step only
            res = {}

            def step():
                try:
                    res["r"] = s.exec("import time\ntime.sleep(4)\nprint('late')",
                                      limits={"wallTimeMs": 10000})
                except requests.RequestException as e:
                    res["e"] = e

            t = threading.Thread(target=step)
            t.start()
            assert sc.wait_state(s, "busy", 10) == "busy"
            for pid in d2.procs():
                os.kill(pid, signal.SIGKILL)
            t.join(30)
            assert "e" in res or res["r"].status_code >= 500, res
            ok = dep.wait_for(lambda: len(d2.procs()) >= 1, 20)
            assert ok, "lighttpd did not respawn isobox.fcgi"
            deadline = time.monotonic() + 30
            while True:
                r = s.exec("print(open('a.txt').read())")
                # 409/503 from the service while it takes over; a 5xx page
                # of lighttpd's own (not JSON: no isobox.fcgi answered)
                # while it respawns them (seen once, a 500, in a local run).
                web = r.status_code >= 500 and not r.headers.get(
                    "Content-Type", "").startswith("application/json")
                if r.status_code not in (409, 503) and not web or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            if r.status_code != 200:
                d2.dump()
            assert r.status_code == 200, r.text
            assert r.json()["run"]["stdout"] == "before\n"
            assert s.delete().status_code == 204
        finally:
            d2.stop()
        assert not subvolumes(store)
        assert not sc.session_containers(s.id)


# R's session directory (tempdir(), /tmp/RtmpXXXXXX) across a session's
# steps. Each step's R is the one the guest prestarted after the step
# before, and /tmp is the sandbox's, so a step sees what the one before left
# there. R removes its directory at exit, after .Last and the exit
# finalizers, however it ends; a prestarted R has that done in-process
# rather than by R's `rm -Rf` (prestart/r-handoff.c). (A deployment's
# sessions need a store of their own: a host service reconciling the same
# store removes workspaces it has no session for.)
R_STEPS = [
    # files in a subdirectory, and one written by .Last and one by an exit
    # finalizer
    ('p <- tempdir(); dir.create(file.path(p, "d"))\n'
     'writeLines("x", file.path(p, "d", "f"))\n'
     '.Last <- function() writeLines("y", file.path(tempdir(), "late"))\n'
     'e <- new.env(); invisible(reg.finalizer(e, function(e) '
     'writeLines("z", file.path(tempdir(), "fin")), onexit = TRUE))\n'
     'cat(sort(list.files("/tmp", all.files = TRUE, recursive = TRUE, '
     'include.dirs = TRUE, no.. = TRUE)), sep = "\\n")\n',
     0, "RtmpN\nRtmpN/d\nRtmpN/d/f\n"),
    # an error ("Execution halted")
    ('writeLines("x", tempfile()); stop("no")\n', 1, ""),
    # a new directory from tempdir(check = TRUE): R removes that one itself
    ('unlink(tempdir(), recursive = TRUE); q <- tempdir(check = TRUE)\n'
     'writeLines("x", file.path(q, "f")); cat(list.files("/tmp"), sep = "\\n")\n',
     0, "RtmpN\n"),
    # quit() with a status
    ('writeLines("x", tempfile()); quit(status = 4)\n', 4, ""),
]


@needs_btrfs
def test_r_session_directory(tmp_root):
    """Every step of an R session finds only its own session directory in
    /tmp: the step before removed its own, with what its .Last and
    finalizer wrote, whether it ended normally, with an error or quit()."""
    with sc.btrfs_store(tmp_root, "2G") as store:
        with sc.deployment(tmp_root, store, name="rtmp", procs=1,
                           cls=dep.PoolDeployment) as d:
            with sc.sessions(d.url, runtime="r") as s:
                seen = []
                for code, status, want in R_STEPS + R_STEPS[:1]:
                    r = s.exec(code)
                    assert r.status_code == 200, r.text[:2000]
                    doc = r.json()["run"]
                    acc = d.access_entry(r.headers["X-Request-Id"])
                    assert acc is not None and acc.get("prestarted") is True, acc
                    assert doc["exitCode"] == status, doc
                    assert re.sub(r"Rtmp\w{6}", "RtmpN", doc["stdout"]) == want, doc
                    seen += re.findall(r"Rtmp\w{6}", doc["stdout"])[:1]
                assert len(set(seen)) == len(seen) == 3, seen


def _fds(d):
    n = 0
    for pid in d.procs():
        try:
            n += len(os.listdir("/proc/%d/fd" % pid))
        except OSError:
            pass
    return n


@needs_btrfs
def test_nothing_left_behind(tmp_root):
    """Many sessions come and go: no row, container, subvolume, admission
    or file descriptor stays behind."""
    with sc.btrfs_store(tmp_root, "2G") as store:
        with sc.deployment(tmp_root, store, name="leaks", procs=1) as d:
            def cycle(i):
                with sc.sessions(d.url) as s:
                    s.run("open('f','w').write('%d')" % i)
                    s.put("up.bin", os.urandom(1 << 20))
                    assert s.get("f").content == str(i).encode()
                    f = requests.post(s.url("/fork"), headers=s.h(), timeout=60).json()
                    sc.Session(d.url, f).delete()

            # Every worker thread has its connections: under load 12 cycles
            # did not always reach that (38 then 41 fds, where an idle host
            # shows 41 both times), so the count is taken after 24; a leak of
            # one descriptor per cycle still shows 12 over the next 12.
            for i in range(24):
                cycle(i)
            before = _fds(d)
            for i in range(12):
                cycle(i)
            after = _fds(d)
            assert after <= before + 2, (before, after)
            assert requests.get(d.url + "/v1/sessions", timeout=30).json()["sessions"] == []
            assert dep.wait_for(lambda: not subvolumes(store), 10), subvolumes(store)
            mine = lambda: [c for c in dep.containers_owned_by(d.fcgi_pids)]  # noqa: E731
            assert dep.wait_for(lambda: not mine(), 20), mine()

            def admitted():
                m = requests.get(d.url + "/metrics", timeout=30).text
                line = [x for x in m.splitlines()
                        if x.startswith("isobox_admitted_memory_bytes ")]
                return int(float(line[0].split()[1])) if line else -1

            assert dep.wait_for(lambda: admitted() == 0, 10), admitted()


@needs_btrfs
@pytest.mark.disruptive
def test_dockerd_restart(tmp_root):
    """Stops the host's dockerd (SIGTERM, as test_ops does) and starts it
    again as scripts/setup-host does: the session's sandbox is gone, its
    workspace is not; the next step starts a sandbox and says so."""
    with sc.btrfs_store(tmp_root, "2G") as store:
        with sc.deployment(tmp_root, store, name="dockerd") as d:
            with sc.sessions(d.url) as s:
                s.run("open('a.txt','w').write('survives')")
                sc.restart_dockerd()
                r = sc.exec_until_ok(s, "print(open('a.txt').read())")
                assert r.status_code == 200, r.text
                out = r.json()
                assert out["run"]["stdout"] == "survives\n"
                assert out["sandboxRestarted"] is True
                assert s.get("a.txt").content == b"survives"
