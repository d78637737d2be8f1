"""The Piston-compatible API (GET /api/v2/runtimes, POST /api/v2/execute):
Piston-shaped requests and responses, its status codes, its error shape, the
same limits as /execute, and the real `piston-client` package from npm
pointed at this server."""
import base64
import json
import os
import sys

import pytest
import requests

from conftest import (BASE_URL, MiB, execute, full_url, runtime_of,
                      strict_json)

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "node"))
import nodeenv  # noqa: E402

NODE_DIR = os.path.join(os.path.dirname(__file__), "..", "node")
RUN_KEYS = {"stdout", "stderr", "output", "code", "signal", "message",
            "status", "wall_time"}


def piston(body, **kw):
    """POST /api/v2/execute (retrying 429s like conftest.execute)."""
    return execute(body, path="/api/v2/execute", **kw)


def piston_ok(body, **kw):
    r = piston(body, **kw)
    assert r.status_code == 200, f"HTTP {r.status_code}: {r.text[:2000]}"
    doc = strict_json(r)
    assert isinstance(doc.get("language"), str) and isinstance(doc.get("version"), str), doc
    for stage in ("run", "compile"):
        if stage in doc:
            check_stage(doc[stage])
    return doc


def check_stage(st):
    missing = RUN_KEYS - set(st)
    assert not missing, f"stage lacks {sorted(missing)}: {st}"
    assert isinstance(st["stdout"], str) and isinstance(st["stderr"], str)
    assert isinstance(st["output"], str)
    assert st["code"] is None or (isinstance(st["code"], int) and not isinstance(st["code"], bool))
    assert st["signal"] is None or st["signal"].startswith("SIG"), st["signal"]
    assert st["status"] in (None, "RE", "SG", "TO", "OL", "EL", "XX"), st["status"]
    # A status always comes with a sentence; no status, no message.
    if st["status"] is None:
        assert st["message"] is None, st
    else:
        assert isinstance(st["message"], str) and st["message"].endswith("."), st
    # Piston: code is null when a signal ended the program, and the other way.
    assert (st["code"] is None) == (st["signal"] is not None), st
    assert isinstance(st["wall_time"], int) and st["wall_time"] >= 0
    # output holds exactly stdout and stderr, interleaved.
    assert sorted(st["output"]) == sorted(st["stdout"] + st["stderr"]), st


def piston_error(resp, status, code=None):
    """Piston's error shape ({"message"}) plus ours (error, requestId)."""
    assert resp.status_code == status, f"{resp.status_code}: {resp.text[:1000]}"
    doc = strict_json(resp)
    assert isinstance(doc.get("message"), str) and doc["message"], doc
    assert isinstance(doc.get("error"), str) and doc["error"], doc
    assert doc.get("requestId") == resp.headers.get("X-Request-Id"), doc
    if code:
        assert doc["error"] == code, doc
    return doc


def py(code, **fields):
    body = {"language": "python", "version": "*", "files": [{"content": code}]}
    body.update(fields)
    return body


# --------------------------------------------------------------- runtimes


def test_runtimes_lists_available_languages(runtimes):
    r = requests.get(full_url("/api/v2/runtimes"), timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    lst = strict_json(r)
    assert isinstance(lst, list) and lst
    for rt in lst:
        assert isinstance(rt["language"], str) and isinstance(rt["version"], str)
        assert isinstance(rt["aliases"], list)
        assert all(isinstance(a, str) for a in rt["aliases"])
    ours = {(rt["language"], rt["version"]) for rt in runtimes
            if rt.get("available", True)}
    assert {(rt["language"], rt["version"]) for rt in lst} == ours


def test_runtimes_is_public_and_rejects_post():
    r = requests.post(full_url("/api/v2/runtimes"), json={}, timeout=10)
    assert r.status_code == 405, r.text
    assert "GET" in r.headers.get("Allow", "")


# --------------------------------------------------------------- execute


def test_hello_world_shape():
    doc = piston_ok(py('print("OK")'))
    assert doc["language"] == "python" and doc["version"].startswith("3.")
    run = doc["run"]
    assert run["stdout"] == "OK\n" and run["stderr"] == ""
    assert run["output"] == "OK\n"
    assert run["code"] == 0 and run["signal"] is None
    assert run["status"] is None and run["message"] is None
    assert "compile" not in doc  # interpreted


@pytest.mark.parametrize("version", ["*", "3", "3.x", "3.11.x", "^3.10", None])
def test_version_ranges(version, runtimes):
    body = py("import sys; print(sys.version_info[0])")
    if version is None:
        del body["version"]  # piston-client omits it for aliases
    else:
        body["version"] = version
    doc = piston_ok(body)
    assert doc["run"]["stdout"] == "3\n"
    assert doc["version"] == runtime_of(runtimes, "python")["version"]


def test_exact_version_and_alias(runtimes):
    v = runtime_of(runtimes, "python")["version"]
    doc = piston_ok({"language": "py", "version": v,
                     "files": [{"content": "print(1)"}]})
    assert doc["language"] == "python" and doc["version"] == v


def test_unknown_version_is_400():
    doc = piston_error(piston(py("print(1)", version="0.0.1")), 400,
                       "unknown_version")
    assert "0.0.1" in doc["message"]


def test_unknown_language_is_400():
    body = {"language": "brainfudge", "version": "*", "files": [{"content": "+"}]}
    doc = piston_error(piston(body), 400, "unknown_language")
    assert "brainfudge" in doc["message"]


def test_first_file_is_the_entry_point():
    body = {"language": "python", "version": "*", "files": [
        {"name": "prog.py", "content": "import helper\nprint(helper.twice(21))"},
        {"name": "helper.py", "content": "def twice(x):\n    return 2 * x\n"},
    ]}
    assert piston_ok(body)["run"]["stdout"] == "42\n"


def test_file_encodings():
    src = 'print("caf\\u00e9", end="")'
    body = {"language": "python", "version": "*", "files": [
        {"name": "main.py", "content": base64.b64encode(
            b"import data\nprint(data.x)").decode(), "encoding": "base64"},
        {"name": "data.py", "content": b"x = 7".hex(), "encoding": "hex"},
    ]}
    assert piston_ok(body)["run"]["stdout"] == "7\n"
    assert piston_ok(py(src))["run"]["stdout"] == "caf\u00e9"


def test_stdin_and_args():
    doc = piston_ok(py("import sys\nprint(sys.stdin.read()[::-1], sys.argv[1:])",
                       stdin="abc", args=["x", "y z"]))
    assert doc["run"]["stdout"] == "cba ['x', 'y z']\n"


def test_output_interleaves_in_arrival_order():
    code = ("import sys, time\n"
            "print('one', flush=True); time.sleep(0.4)\n"
            "print('two', file=sys.stderr, flush=True); time.sleep(0.4)\n"
            "print('three', flush=True); time.sleep(0.4)\n"
            "print('four', file=sys.stderr, flush=True)\n")
    run = piston_ok(py(code))["run"]
    assert run["stdout"] == "one\nthree\n"
    assert run["stderr"] == "two\nfour\n"
    assert run["output"] == "one\ntwo\nthree\nfour\n"


def test_output_keeps_multibyte_characters_whole():
    # Each stream cuts a character in two across writes; the other stream
    # writes in between, and output must still hold whole characters.
    code = ("import os, time\n"
            "e = 'é'.encode()\n"
            "os.write(1, b'a' + e[:1]); time.sleep(0.3)\n"
            "os.write(2, b'ERR'); time.sleep(0.3)\n"
            "os.write(1, e[1:] + b'b')\n")
    run = piston_ok(py(code))["run"]
    assert run["stdout"] == "aéb" and run["stderr"] == "ERR"
    assert run["output"] in ("aERRéb", "aébERR"), run["output"]


def test_nonzero_exit_is_RE():
    run = piston_ok(py("import sys; print('bye'); sys.exit(3)"))["run"]
    assert run["code"] == 3 and run["signal"] is None
    assert run["status"] == "RE"
    assert "3" in run["message"]


def test_signal_is_SG():
    run = piston_ok(py("import os, signal; os.kill(os.getpid(), signal.SIGTERM)"))["run"]
    assert run["code"] is None and run["signal"] == "SIGTERM", run
    assert run["status"] == "SG"
    assert "SIGTERM" in run["message"]


@pytest.mark.slow
def test_timeout_is_TO():
    run = piston_ok(py("while True: pass", run_timeout=1000))["run"]
    assert run["status"] == "TO", run
    assert run["code"] is None and run["signal"] == "SIGKILL"
    assert "1000 ms" in run["message"]
    assert 1000 <= run["wall_time"] < 10000


@pytest.mark.slow
def test_out_of_memory_is_SG_with_a_memory_message():
    code = "blocks = []\nwhile True:\n    blocks.append(b'x' * (16 << 20))\n"
    run = piston_ok(py(code, run_memory_limit=64 * MiB))["run"]
    assert run["status"] == "SG", run
    assert run["signal"] == "SIGKILL" and run["code"] is None
    assert "memory" in run["message"].lower() and "64 MiB" in run["message"]


def test_output_limit_is_OL():
    run = piston_ok(py("import sys\nwhile True:\n    sys.stdout.write('x' * 4096)\n"))["run"]
    assert run["status"] == "OL", run
    assert run["signal"] == "SIGKILL" and run["code"] is None
    cap = len(run["stdout"]) + len(run["stderr"])
    assert cap > 0 and len(run["output"]) == cap
    assert str(cap) in run["message"]


def test_minus_one_means_default_and_cpu_time_is_accepted():
    doc = piston_ok(py("print('ok')", run_memory_limit=-1, compile_memory_limit=-1,
                       run_timeout=-1, compile_timeout=-1, run_cpu_time=100,
                       compile_cpu_time=5000))
    assert doc["run"]["stdout"] == "ok\n"


def test_limits_clamp_exactly_like_execute():
    # 50 ms is below the floor: both APIs raise it to the same value.
    ex = execute({"language": "python", "code": "while True: pass",
                  "limits": {"wallTimeMs": 50}})
    assert ex.status_code == 200, ex.text
    floor = strict_json(ex)["limits"]["wallTimeMs"]
    assert floor > 50
    run = piston_ok(py("while True: pass", run_timeout=50))["run"]
    assert run["status"] == "TO"
    assert f"{floor} ms" in run["message"], (floor, run["message"])
    # Far above the ceiling is clamped, not refused.
    assert piston_ok(py("print(1)", run_timeout=10**12,
                        run_memory_limit=10**15))["run"]["code"] == 0


def test_compiled_language_has_a_compile_stage(runtimes):
    rt = runtime_of(runtimes, "c")
    assert rt is not None, "the catalogue has no C compiler"
    assert rt.get("available", True), "c is in the catalogue but its image is missing"
    ok = piston_ok({"language": "c", "version": "*", "files": [
        {"name": "main.c", "content": '#include <stdio.h>\nint main(void){puts("hi");return 4;}\n'}]})
    assert ok["compile"]["code"] == 0 and ok["compile"]["status"] is None
    assert ok["run"]["stdout"] == "hi\n" and ok["run"]["status"] == "RE"
    bad = piston_ok({"language": "c", "version": "*", "files": [
        {"name": "main.c", "content": "int main(void){return nope;}\n"}]})
    # As in Piston: no run stage when compilation failed.
    assert "run" not in bad, bad
    assert bad["compile"]["code"] != 0 and bad["compile"]["status"] == "RE"
    assert "nope" in bad["compile"]["stderr"] and "nope" in bad["compile"]["output"]


# --------------------------------------------------------------- errors


@pytest.mark.parametrize("body,code,words", [
    ({"version": "*", "files": [{"content": "x"}]}, "language_required", "language"),
    ({"language": 7, "version": "*", "files": [{"content": "x"}]}, "invalid_field", "language"),
    ({"language": "python", "version": "*"}, "no_source", "files"),
    ({"language": "python", "version": "*", "files": "print(1)"}, "invalid_field", "files"),
    ({"language": "python", "version": "*", "files": []}, "no_source", "files"),
    ({"language": "python", "version": "*", "files": [{"name": "a.py"}]}, "invalid_field", "content"),
    ({"language": "python", "version": "*", "files": [{"content": "x", "encoding": "rot13"}]},
     "invalid_field", "encoding"),
    ({"language": "python", "version": "*", "files": [{"content": "x", "name": "../x.py"}]},
     "invalid_file_name", "files[0]"),
    ({"language": "python", "version": 3, "files": [{"content": "x"}]}, "invalid_field", "version"),
    ({"language": "python", "version": "*", "files": [{"content": "x"}], "run_timeout": "1s"},
     "invalid_field", "run_timeout"),
    ({"language": "python", "version": "*", "files": [{"content": "x"}], "args": "a b"},
     "invalid_field", "args"),
    ({"language": "python", "version": "*", "files": [{"content": "x"}], "stdin": 5},
     "invalid_field", "stdin"),
])
def test_bad_requests_are_400_with_a_message(body, code, words):
    doc = piston_error(piston(body), 400, code)
    assert words in doc["message"], doc


def test_invalid_json_is_400():
    piston_error(piston(b"{not json"), 400, "invalid_json")
    piston_error(piston(b"[1, 2]"), 400, "invalid_json")


def test_content_types():
    body = py("print('plain')")
    # Piston clients built on fetch send text/plain (no preflight needed).
    r = piston(body, headers={"Content-Type": "text/plain;charset=UTF-8"})
    assert r.status_code == 200 and strict_json(r)["run"]["stdout"] == "plain\n", r.text
    # ... but not from another site's page (a browser's cross-site POST).
    r = piston(body, headers={"Content-Type": "text/plain",
                              "Origin": "http://evil.example"})
    piston_error(r, 415, "unsupported_media_type")
    # A page served by this server may.
    host = BASE_URL.split("://", 1)[1]
    r = piston(body, headers={"Content-Type": "text/plain", "Origin": BASE_URL})
    assert r.status_code == 200, (host, r.text)
    piston_error(piston(body, headers={"Content-Type": "application/x-www-form-urlencoded"}),
                 415, "unsupported_media_type")
    # No Content-Type at all: fine, except cross-site.
    raw = json.dumps(body).encode()
    r = requests.post(full_url("/api/v2/execute"), data=raw, timeout=60)
    assert "Content-Type" not in r.request.headers
    assert r.status_code in (200, 429), r.text
    r = requests.post(full_url("/api/v2/execute"), data=raw, timeout=60,
                      headers={"Origin": "http://evil.example"})
    piston_error(r, 415, "unsupported_media_type")


def test_get_execute_is_405():
    r = requests.get(full_url("/api/v2/execute"), timeout=10)
    assert r.status_code == 405 and "POST" in r.headers.get("Allow", "")


# --------------------------------------------------------------- a real client


@pytest.fixture(scope="module")
def node():
    return nodeenv.ensure(NODE_DIR)


@pytest.mark.slow
def test_piston_client_from_npm_works_unchanged(node, runtimes):
    doc = nodeenv.run_json(node, os.path.join(NODE_DIR, "piston_client.mjs"), BASE_URL)
    langs = {rt["language"] for rt in doc["runtimes"]}
    assert {"python", "javascript"} <= langs
    assert doc["hello"]["run"]["stdout"] == "hello from piston-client\n"
    assert doc["hello"]["run"]["code"] == 0
    assert doc["stdinArgs"]["run"]["stdout"] == "ABC ['x', 'y']\n"
    assert doc["js"]["language"] == "javascript"
    assert doc["js"]["run"]["stdout"] == "42\n" and doc["js"]["run"]["code"] == 2
    assert doc["js"]["run"]["status"] == "RE"
    assert doc["timeout"]["run"]["status"] == "TO"
    assert doc["unknown"]["message"] and doc["unknown"]["error"] == "unknown_language"
