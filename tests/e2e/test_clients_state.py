"""The clients' session, file, kernel, volume and memory methods
(clients/python/isobox.py, clients/js/isobox.mjs) against the live server:
every method once, files streamed from and to disk with their bytes
checked, kernel cells with their values and plots, volumes copied and
attached, compare-and-set under concurrent writers, errors carrying the
server's code and status, and sessions that delete themselves (a with
block, close())."""
import hashlib
import os
import sys
import threading
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "helpers"))
from clients_common import box, isobox, retry, run_js  # noqa: E402,F401


@pytest.fixture
def ns():
    return f"pyclient-{os.getpid()}-{time.monotonic_ns()}"


@pytest.fixture
def sess(box):
    s = retry(lambda: box.create_session("python", ttl_sec=300))
    with s:
        yield s


# --------------------------------------------------------------- sessions


def test_python_session_lifecycle(box):
    with retry(lambda: box.create_session("python", ttl_sec=120,
                                          limits={"wallTimeMs": 4000})) as s:
        assert s.id.startswith("sess_") and s.token.startswith("tok_")
        assert "token" not in s.info and s.info["ttlSec"] == 120
        assert s.info["limits"]["wallTimeMs"] == 4000
        assert s.get()["id"] == s.id
        assert s.id in {x["id"] for x in box.list_sessions()}
        before = s.info["expiresAt"]
        info = s.extend(900)
        assert info["ttlSec"] == 900 and info["expiresAt"] > before
        res = retry(lambda: s.exec("import sys\nopen('state.txt','w').write('kept')\n"
                                   "print(sys.argv[1:], sys.stdin.read())",
                                   stdin="in", args=["a"]))
        assert res["run"]["stdout"] == "['a'] in\n" and res["sandboxRestarted"] is False
        res = retry(lambda: s.exec("print(open('state.txt').read())"))
        assert res["run"]["stdout"] == "kept\n"
        assert s.get()["steps"] == 2
    assert s.closed
    with pytest.raises(isobox.NotFound) as ei:
        s.get()
    assert ei.value.code == "session_not_found" and ei.value.status == 404
    s.close()  # already gone: fine


def test_python_session_deleted_when_the_block_raises(box):
    with pytest.raises(ZeroDivisionError):
        with retry(lambda: box.create_session("python", ttl_sec=120)) as s:
            1 / 0
    with pytest.raises(isobox.NotFound):
        box.session(s.id, s.token).get()


def test_python_session_stream_interrupt_fork(sess):
    t0 = time.monotonic()
    evs = [(ev.event, ev.data, time.monotonic() - t0) for ev in retry(lambda: list(
        sess.stream("import time\nprint('a', flush=True)\ntime.sleep(1.5)\nprint('b', flush=True)")))]
    assert evs[0][0] == "stdout" and evs[-1][0] == "done"
    assert evs[-1][1]["run"]["stdout"] == "a\nb\n" and "sandboxRestarted" in evs[-1][1]

    out = {}

    def step():
        out["res"] = retry(lambda: sess.exec(
            "import time\ntry:\n    time.sleep(30)\nexcept KeyboardInterrupt:\n"
            "    print('interrupted')", limits={"wallTimeMs": 20000}))

    th = threading.Thread(target=step)
    th.start()
    deadline = time.monotonic() + 30
    while True:
        time.sleep(0.5)
        try:
            assert sess.interrupt() == {"interrupted": True}
            break
        except isobox.Conflict as e:
            assert e.code == "session_idle"
            assert time.monotonic() < deadline
    th.join(60)
    assert out["res"]["run"]["stdout"] == "interrupted\n"
    with pytest.raises(isobox.Conflict) as ei:
        sess.interrupt()
    assert ei.value.code == "session_idle" and ei.value.status == 409

    sess.write("f.txt", "from parent")
    with retry(sess.fork) as child:
        assert child.id != sess.id and child.read("f.txt") == b"from parent"
        child.write("f.txt", "changed")
        assert sess.read("f.txt") == b"from parent"


def test_python_files_stream_from_and_to_disk(sess, tmp_path):
    data = os.urandom(5 * 1024 * 1024 + 3)
    src = tmp_path / "in.bin"
    src.write_bytes(data)
    up = sess.upload("dir/sub/in.bin", str(src))
    assert up == {"path": "dir/sub/in.bin", "bytes": len(data),
                  "sha256": hashlib.sha256(data).hexdigest()}
    with open(src, "rb") as f:
        assert sess.upload("copy.bin", f)["bytes"] == len(data)
    assert sess.upload("pathlike.bin", src)["bytes"] == len(data)
    res = retry(lambda: sess.exec(
        "import hashlib\nprint(hashlib.sha256(open('dir/sub/in.bin','rb').read()).hexdigest())\n"
        "open('out.txt','w').write('made in a step')"))
    assert res["run"]["stdout"].strip() == hashlib.sha256(data).hexdigest()
    dst = tmp_path / "back.bin"
    assert sess.download("dir/sub/in.bin", str(dst)) == len(data)
    assert dst.read_bytes() == data
    assert not [p for p in os.listdir(tmp_path) if ".part" in p]
    with open(tmp_path / "fobj.bin", "wb") as f:
        assert sess.download("out.txt", f) == 14
    assert sess.read("out.txt") == b"made in a step"
    assert sess.write("t.txt", "héllo")["bytes"] == len("héllo".encode())
    names = {e["name"]: e for e in sess.list()["entries"]}
    assert {"dir", "copy.bin", "out.txt", "t.txt"} <= set(names)
    assert names["dir"]["dir"] is True and names["copy.bin"]["size"] == len(data)
    assert [e["name"] for e in sess.list("dir/sub")["entries"]] == ["in.bin"]
    sess.remove("dir")
    sess.remove("never-was")
    assert "dir" not in {e["name"] for e in sess.list()["entries"]}
    with pytest.raises(isobox.NotFound) as ei:
        sess.read("dir/sub/in.bin")
    assert ei.value.code == "not_found" and ei.value.request_id
    with pytest.raises(isobox.BadRequest) as ei:
        sess.read("../etc/passwd")
    assert ei.value.code == "invalid_path" and ei.value.status == 400
    with pytest.raises(FileNotFoundError):
        sess.upload("x", str(tmp_path / "missing"))


def test_python_session_errors(box, sess):
    with pytest.raises(isobox.Unauthorized) as ei:
        box.session(sess.id, "tok_" + "0" * 64).get()
    assert ei.value.code == "invalid_session_token" and ei.value.status == 401
    with pytest.raises(isobox.NotFound) as ei:
        box.session("sess_" + "0" * 32, "tok_" + "0" * 64).exec("print(1)")
    assert ei.value.code == "session_not_found"
    with pytest.raises(isobox.BadRequest) as ei:
        box.create_session("intercal")
    assert ei.value.code == "unknown_language"


# --------------------------------------------------------------- kernels


def kernel_or_skip(box, runtime="python"):
    try:
        return retry(lambda: box.create_kernel(runtime, ttl_sec=300))
    except isobox.BadRequest as e:
        if e.code in ("kernel_disabled", "kernel_unavailable"):
            pytest.skip(f"this server has no {runtime} kernel ({e.code})")
        raise


def test_python_kernel_cells_images_interrupt_restart(box, sess):
    with kernel_or_skip(box) as k:
        assert k.info["type"] == "kernel"
        cell = retry(lambda: k.run("import matplotlib\nmatplotlib.use('Agg')\n"
                                   "import matplotlib.pyplot as plt\n"
                                   "plt.plot([1, 3, 2])\nn = 6\nprint('hi')\nn * 7",
                                   limits={"wallTimeMs": 20000}))
        assert isinstance(cell, isobox.Cell)
        assert cell.text == "42" and cell.stdout == "hi\n" and cell.exit_code == 0
        assert cell.execution_count == 1 and cell.error is None
        assert [m for m, _ in cell.images] == ["image/png"]
        assert cell.images[0][1].startswith(b"\x89PNG\r\n\x1a\n")
        assert any(r["isMainResult"] for r in cell.results)
        cell = retry(lambda: k.run("n + 1"))
        assert cell.text == "7" and cell.execution_count == 2 and cell.images == []
        cell = retry(lambda: k.run("1 / 0"))
        assert cell.error["name"] == "ZeroDivisionError" and cell.exit_code == 1
        assert cell.text is None and "ZeroDivisionError" in cell.stderr

        out = {}
        th = threading.Thread(target=lambda: out.update(cell=retry(lambda: k.run(
            "import time\ntime.sleep(60)", limits={"wallTimeMs": 20000}))))
        th.start()
        deadline = time.monotonic() + 30
        while True:
            time.sleep(0.5)
            try:
                assert k.interrupt() == {"interrupted": True}
                break
            except isobox.Conflict as e:
                assert e.code == "session_idle" and time.monotonic() < deadline
        th.join(60)
        assert out["cell"].interrupted is True and out["cell"].restarted is False
        assert retry(lambda: k.run("n")).text == "6"  # kept after an interrupt

        assert k.restart() == {"restarted": True}
        cell = retry(lambda: k.run("n"))
        assert cell.error["name"] == "NameError" and cell.execution_count == 1
    assert k.closed
    with pytest.raises(isobox.BadRequest) as ei:
        sess.restart()
    assert ei.value.code == "not_a_kernel" and ei.value.status == 400


# --------------------------------------------------------------- volumes


def test_python_volumes(box, tmp_path):
    name = f"pyclient-{os.getpid()}-{time.monotonic_ns()}"
    made = []
    try:
        vol = box.create_volume(name, size_bytes=32 << 20)
        made.append(vol)
        assert isinstance(vol, isobox.Volume) and vol.id.startswith("vol_")
        assert vol.name == name and vol.info["sizeBytes"] == 32 << 20
        data = os.urandom(2 * 1024 * 1024 + 5)
        src = tmp_path / "in.bin"
        src.write_bytes(data)
        assert vol.upload("raw/in.bin", str(src))["sha256"] == hashlib.sha256(data).hexdigest()
        assert vol.write("notes.txt", "héllo")["bytes"] == len("héllo".encode())
        assert [e["name"] for e in vol.list("raw")["entries"]] == ["in.bin"]
        assert {"raw", "notes.txt"} <= {e["name"] for e in vol.list()["entries"]}
        assert vol.download("raw/in.bin", str(tmp_path / "back.bin")) == len(data)
        assert (tmp_path / "back.bin").read_bytes() == data

        copy = vol.copy(name + "-copy")
        made.append(copy)
        copy2 = box.copy_volume(vol.id, name + "-copy2", size_bytes=16 << 20)
        made.append(copy2)
        assert copy.info["copiedFrom"] == vol.id and copy.info["sizeBytes"] == 32 << 20
        assert copy2.info["sizeBytes"] == 16 << 20
        assert copy.read("notes.txt") == "héllo".encode()
        copy.write("notes.txt", "changed")
        copy.remove("raw")
        assert vol.read("notes.txt") == "héllo".encode() and vol.read("raw/in.bin") == data
        assert "raw" not in {e["name"] for e in copy.list()["entries"]}

        listed = {v.name: v for v in box.list_volumes()}
        assert {name, name + "-copy", name + "-copy2"} <= set(listed)
        assert isinstance(listed[name], isobox.Volume) and listed[name].id == vol.id
        got = box.get_volume(vol.id)
        assert got.name == name and got.info["usedBytes"] >= 0 and vol.get()["id"] == vol.id

        # Attached read-write: its files change through the session only.
        with retry(lambda: box.create_session("python", ttl_sec=120, volumes=[
                {"id": vol.id, "mountPath": "/data", "mode": "rw"}])) as s:
            res = retry(lambda: s.exec("print(open('/data/notes.txt').read())"))
            assert res["run"]["stdout"] == "héllo\n"
            assert box.get_volume(vol.id).info["attachedTo"]["readWrite"] == s.id
            with pytest.raises(isobox.Conflict) as ei:
                vol.write("x.txt", "no")
            assert ei.value.code == "volume_locked" and ei.value.status == 409
            with pytest.raises(isobox.Conflict) as ei:
                vol.delete()
            assert ei.value.code == "volume_busy"
            assert vol.read("notes.txt") == "héllo".encode()  # reads are fine

        with pytest.raises(isobox.Conflict) as ei:
            box.create_volume(name.upper())
        assert ei.value.code == "volume_name_exists"
        with pytest.raises(isobox.BadRequest) as ei:
            box.create_volume("bad/name")
        assert ei.value.code == "invalid_name"
        copy.delete()
        box.delete_volume(copy2)
        made[1:] = []
        with pytest.raises(isobox.NotFound) as ei:
            box.get_volume(copy.id)
        assert ei.value.code == "volume_not_found" and ei.value.status == 404
        with pytest.raises(isobox.NotFound):
            copy.read("notes.txt")
    finally:
        for v in made:
            try:
                v.delete()
            except isobox.NotFound:
                pass


# --------------------------------------------------------------- memory


def test_python_memory_methods(box, ns):
    etag = box.memory_put(ns, "a/b", "v1", ttl_sec=60)
    assert etag == hashlib.sha256(b"v1").hexdigest()
    it = box.memory_get(ns, "a/b")
    assert it.value == b"v1" and it.text == "v1" and it.etag == etag
    assert it.content_type.startswith("text/plain") and it.expires_at.endswith("Z")
    assert box.memory_put(ns, "bin", b"\x00\xff", content_type="application/x-thing")
    it = box.memory_get(ns, "bin")
    assert it.value == b"\x00\xff" and it.content_type == "application/x-thing"
    assert it.expires_at is None
    with pytest.raises(isobox.PreconditionFailed) as ei:
        box.memory_put(ns, "a/b", "v2", if_match="0" * 64)
    assert ei.value.code == "precondition_failed" and ei.value.status == 412
    assert box.memory_put(ns, "a/b", "v2", if_match=etag) == hashlib.sha256(b"v2").hexdigest()
    with pytest.raises(isobox.PreconditionFailed):
        box.memory_put(ns, "a/b", "v3", if_none_match="*")
    with pytest.raises(isobox.PreconditionFailed):
        box.memory_delete(ns, "a/b", if_match=etag)  # stale
    page = box.memory_list(ns, limit=1)
    assert page["keys"] == ["a/b"] and page["listComplete"] is False
    assert [i["key"] for i in box.memory_keys(ns)] == ["a/b", "bin"]
    assert [i["key"] for i in box.memory_keys(ns, prefix="b")] == ["bin"]
    usage = box.memory_usage()
    assert {"namespace": ns, "keys": 2, "bytes": len("a/bv2bin") + 2} in usage["namespaces"]
    box.memory_delete(ns, "a/b")
    box.memory_delete(ns, "a/b")  # absent: fine
    with pytest.raises(isobox.NotFound) as ei:
        box.memory_get(ns, "a/b")
    assert ei.value.code == "not_found"
    assert box.memory_get(ns, "a/b", default=None) is None
    with pytest.raises(isobox.BadRequest) as ei:
        box.memory_put("bad ns!", "k", "v")
    assert ei.value.code == "invalid_namespace"
    box.memory_delete(ns, "bin")


def test_python_memory_update_loses_no_write(box, ns):
    n = 12
    errors = []

    def bump():
        try:
            box.memory_update(ns, "counter", lambda old: str(int(old or b"0") + 1))
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=bump) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert box.memory_get(ns, "counter").value == str(n).encode()
    box.memory_delete(ns, "counter")


def test_python_memory_update_gives_up_after_retries(box, ns, monkeypatch):
    box.memory_put(ns, "k", "0")
    real_get = box.memory_get

    def racing_get(*a, **kw):
        it = real_get(*a, **kw)
        box.memory_put(ns, "k", str(time.monotonic_ns()))  # someone else wins
        return it

    monkeypatch.setattr(box, "memory_get", racing_get)
    with pytest.raises(isobox.PreconditionFailed):
        box.memory_update(ns, "k", lambda old: "mine", retries=2)
    monkeypatch.undo()
    box.memory_delete(ns, "k")


def test_seed_calls_unchanged(box):
    res = retry(lambda: box.execute("python", "print(6 * 7)"))
    assert res["run"]["stdout"] == "42\n"
    assert [e.event for e in retry(lambda: list(box.stream("python", "print(1)")))][-1] == "done"


# --------------------------------------------------------------- JS client


@pytest.fixture(scope="module")
def js(tmp_path_factory):
    return run_js("js_client_state.mjs", str(tmp_path_factory.mktemp("jsstate")))


def test_js_sessions(js):
    assert js["created"]["isSession"] and js["created"]["tokenPrefix"] == "tok_"
    assert "token" not in js["created"]["info"]
    assert js["hasAsyncDispose"] is True
    assert js["get"]["id"] == js["created"]["id"] and js["listed"] is True
    assert js["exec"]["run"]["stdout"] == "héllo from js\n" + js["bigSha"] + "\n"
    assert js["streamKinds"][0] == "stdout" and js["streamKinds"][-1] == "done"
    assert js["streamSpanMs"] >= 1000
    assert js["interrupt"] == {"interrupted": True}
    assert js["interrupted"]["run"]["stdout"] == "interrupted\n"
    assert js["idleInterrupt"]["code"] == "session_idle" and js["idleInterrupt"]["status"] == 409
    assert js["extend"]["ttlSec"] == 600
    assert js["fork"]["differs"] and js["fork"]["text"] == "made in step"
    assert js["forkGone"]["code"] == "session_not_found"
    assert js["badToken"]["code"] == "invalid_session_token" and js["badToken"]["status"] == 401
    assert js["closedTwice"] == {"threw": False}
    assert js["gone"]["code"] == "session_not_found" and js["gone"]["status"] == 404


def test_js_files(js):
    assert js["write"]["bytes"] == len("héllo from js\n".encode())
    assert js["upload"]["sha256"] == js["bigSha"] and js["upload"]["bytes"] > 3 << 20
    assert js["downloadSha"] == js["bigSha"] and js["downloadBytes"] == js["upload"]["bytes"]
    assert js["noPartLeft"] is True
    assert js["readText"] == "made in step" and js["readBytes"] == js["write"]["bytes"]
    assert {"data", "notes", "made.txt"} <= {e["name"] for e in js["fsList"]["entries"]}
    assert [e["name"] for e in js["listSub"]["entries"]] == ["hello.txt"]
    assert "notes" not in js["afterRemove"]
    assert js["missingFile"]["code"] == "not_found" and js["missingFile"]["requestId"]


def test_js_memory(js):
    assert js["put"] == hashlib.sha256(b"v1").hexdigest()
    assert js["got"]["text"] == "v1" and js["got"]["etag"] == js["put"]
    assert js["got"]["contentType"].startswith("text/plain") and js["got"]["expiresAt"]
    assert js["gotBinary"] == [0, 255, 1]
    assert js["casFail"]["code"] == "precondition_failed" and js["casFail"]["status"] == 412
    assert js["casOk"] == hashlib.sha256(b"v2").hexdigest()
    assert js["createOnly"]["status"] == 412
    assert js["counter"] == "8"  # 8 concurrent memoryUpdate calls, none lost
    assert js["memList"]["listComplete"] is False and len(js["memList"]["keys"]) == 2
    assert js["allKeys"] == ["bin", "counter", "dir/key"]
    assert js["usage"]["tenant"]
    assert js["missing"] is None and js["missingErr"]["code"] == "not_found"


def test_js_kernels(js):
    k = js["kernel"]
    if k.get("skipped"):
        pytest.skip(f"this server has no python kernel ({k['skipped']})")
    assert k["isCell"] and k["type"] == "kernel"
    assert k["text"] == "42" and k["stdout"] == "hi\n" and k["executionCount"] == 1
    assert k["imageMimes"] == ["image/png"] and k["pngMagic"] is True
    assert k["kept"] == "7"
    assert k["error"] == "ZeroDivisionError" and k["exitCode"] == 1
    assert k["interrupt"] == {"interrupted": True} and k["interrupted"] is True
    assert k["keptAfterInterrupt"] == "6"
    assert k["restart"] == {"restarted": True}
    assert k["afterRestart"] == {"error": "NameError", "executionCount": 1}
    assert k["notAKernel"]["code"] == "not_a_kernel" and k["notAKernel"]["status"] == 400


def test_js_volumes(js):
    v = js["volume"]
    assert v["isVolume"] and v["id"].startswith("vol_") and v["sizeBytes"] == 32 << 20
    assert v["upload"]["sha256"] == v["bigSha"] and v["downloadSha"] == v["bigSha"]
    assert v["write"]["bytes"] == len("héllo".encode()) and v["readText"] == "héllo"
    assert v["listRaw"] == ["big.bin"]
    assert v["copy"]["copiedFrom"] == v["id"] and v["copyText"] == "héllo"
    assert v["copy2Size"] == 16 << 20
    assert v["originalKept"] == "héllo" and v["copyAfterRemove"] == ["notes.txt"]
    assert v["listed"] is True and v["got"] == v["name"] and v["refreshed"] == v["id"]
    assert v["attachedRead"] == "héllo\n"
    assert v["locked"]["code"] == "volume_locked" and v["locked"]["status"] == 409
    assert v["busy"]["code"] == "volume_busy"
    assert v["nameTaken"]["code"] == "volume_name_exists"
    assert v["gone"]["code"] == "volume_not_found" and v["gone"]["status"] == 404
    assert v["leftOver"] == []
