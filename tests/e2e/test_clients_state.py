"""The clients' session, file and memory methods (clients/python/isobox.py,
clients/js/isobox.mjs) against the live server: every method once, files
streamed from and to disk with their bytes checked, compare-and-set under
concurrent writers, errors carrying the server's code and status, and
sessions that delete themselves (a with block, close())."""
import hashlib
import os
import sys
import threading
import time

import pytest

from conftest import BASE_URL

HERE = os.path.dirname(__file__)
sys.path.insert(0, os.path.join(HERE, "..", "..", "clients", "python"))
sys.path.insert(0, os.path.join(HERE, "..", "node"))
import isobox  # noqa: E402
import nodeenv  # noqa: E402

NODE_DIR = os.path.join(HERE, "..", "node")


def retry(fn, seconds=300):
    """Retry 429 answers (capacity, too many sessions): not under test."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return fn()
        except isobox.RateLimited as e:
            if time.monotonic() > deadline:
                raise
            time.sleep(min(max(e.retry_after or 1, 0.2), 10))


@pytest.fixture(scope="module")
def box():
    return isobox.Client(BASE_URL, timeout=90)


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
    node = nodeenv.ensure(NODE_DIR)
    work = tmp_path_factory.mktemp("jsstate")
    return nodeenv.run_json(node, os.path.join(NODE_DIR, "js_client_state.mjs"),
                            BASE_URL, str(work))


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
