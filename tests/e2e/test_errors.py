"""Bad requests: every one gets the documented status and error code in a JSON
body with error/message/requestId and an X-Request-Id header, and none of them
crashes the service or leaves a container behind."""
import json
import time

import pytest
import requests

from conftest import (MiB, assert_error, execute, full_url, healthz_ok,
                      raw_http, strict_json, wait_no_leaks)

OK_CODE = "print(1)"


@pytest.fixture(autouse=True)
def service_survives():
    """After every bad request: /healthz answers and no container is left."""
    yield
    healthz_ok()
    cs, _ = wait_no_leaks(timeout=5.0, check_cgroups=False)
    assert not cs, f"containers left after a bad request: {cs}"


def body_with(**fields):
    b = {"language": "python", "code": OK_CODE}
    b.update(fields)
    return {k: v for k, v in b.items() if v is not _DROP}


_DROP = object()


# ---------------------------------------------------------------- JSON

@pytest.mark.parametrize("raw", [
    b'{"language": "python", "code": ',          # truncated
    b'not json',
    b'',
    b'{"language": "python", "code": "print(1)"} trailing',
    b"{'language': 'python'}",                    # single quotes
    b'{"language": "python", "code": "print(1)",}',
], ids=["truncated", "garbage", "empty", "trailing", "single-quotes", "trailing-comma"])
def test_malformed_json(raw):
    assert_error(execute(raw), 400, "invalid_json")


@pytest.mark.parametrize("raw", [b'[]', b'[{"language": "python", "code": "print(1)"}]',
                                 b'"python"', b'42', b'null', b'true'],
                         ids=["empty-array", "array", "string", "number", "null", "true"])
def test_json_not_an_object(raw):
    assert_error(execute(raw), 400, "invalid_json")


def test_deeply_nested_json():
    # A parser that recurses per nesting level must not blow its stack, and
    # nesting past the cap (16, docs/API.md) is refused even inside a field
    # the service ignores.
    deep = b'{"language": "python", "code": "print(1)", "x": ' + b'[' * 200000 + \
        b']' * 200000 + b'}'
    assert_error(execute(deep), 400, "invalid_json")
    deep = b'[' * 500000 + b']' * 500000
    assert_error(execute(deep), 400, "invalid_json")


# ---------------------------------------------------------------- language

def test_missing_language():
    assert_error(execute({"code": OK_CODE}), 400, "language_required")


def test_empty_language():
    body = assert_error(execute(body_with(language="")), 400)
    assert body["error"] in ("language_required", "unknown_language"), body


def test_unknown_language():
    assert_error(execute(body_with(language="cobol-2099")), 400, "unknown_language")


def test_language_wrong_type():
    assert_error(execute(body_with(language=5)), 400, "invalid_field")


def test_unknown_version(runtimes):
    real = sorted({rt["version"] for rt in runtimes if rt["language"] == "python"})
    assert real, runtimes
    body = assert_error(execute(body_with(version="0.0.1")), 400, "unknown_version")
    assert any(v in body["message"] for v in real), \
        f"message does not list the real versions {real}: {body['message']!r}"
    body = assert_error(execute(body_with(language="python@0.0.1")), 400, "unknown_version")
    assert any(v in body["message"] for v in real), body


# ---------------------------------------------------------------- source

def test_no_source():
    assert_error(execute({"language": "python"}), 400, "no_source")


def test_empty_files_is_no_source():
    body = assert_error(execute({"language": "python", "files": []}), 400)
    assert body["error"] in ("no_source", "invalid_field"), body


def test_code_and_files_exclusive():
    body = assert_error(execute(body_with(files=[{"name": "main.py", "content": "print(2)"}])),
                        400)
    assert body["error"] in ("invalid_field", "no_source"), body


@pytest.mark.parametrize("field,value", [
    ("code", 5), ("code", ["print(1)"]), ("code", {"a": 1}),
    ("stdin", 5), ("args", "a b"), ("args", [1, 2]), ("args", [None]),
    ("network", "no"), ("version", 3.11), ("files", "main.py"), ("files", {"name": "x"}),
], ids=lambda v: json.dumps(v) if not isinstance(v, str) else v)
def test_field_wrong_type(field, value):
    if field == "files":
        body = {"language": "python", "files": value}
    else:
        body = body_with(**{field: value})
    assert_error(execute(body), 400, "invalid_field")


def test_unnamed_second_file():
    # Only the entry point may do without a name (Piston-style); any other
    # file without one cannot be placed.
    files = [{"name": "main.py", "content": "print(1)"}, {"content": "x"}]
    body = assert_error(execute({"language": "python", "files": files}), 400)
    assert body["error"] in ("invalid_field", "invalid_file_name"), body


@pytest.mark.parametrize("item", [
    {"name": "main.py"},                                       # no content
    {"name": 5, "content": "print(1)"},
    {"name": "main.py", "content": 5},
    {"name": "main.py", "content": "print(1)", "encoding": "rot13"},
    {"name": "main.py", "content": "!!! not base64 !!!", "encoding": "base64"},
    {"name": "main.py", "content": "zz", "encoding": "hex"},
    "main.py",
], ids=["no-content", "name-number", "content-number", "bad-encoding",
        "bad-base64", "bad-hex", "string-item"])
def test_bad_file_item(item):
    assert_error(execute({"language": "python", "files": [item]}), 400, "invalid_field")


@pytest.mark.parametrize("limits", [
    "big", 5, ["memoryBytes"],
    {"memoryBytes": "64MiB"}, {"wallTimeMs": "1000"}, {"cpus": "2"},
    {"pids": True}, {"memoryBytes": {"v": 1}}, {"wallTimeMs": [1000]},
], ids=lambda v: json.dumps(v))
def test_limits_wrong_type(limits):
    body = assert_error(execute(body_with(limits=limits)), 400)
    assert body["error"] == "invalid_field", body


def test_network_true_refused():
    assert_error(execute(body_with(network=True)), 403, "network_unavailable")


# ---------------------------------------------------------------- file names

BAD_NAMES = [
    "../x", "/etc/passwd", "a\u0000b", "n" * 300, "a/../../b", "", ".", "..", "./x",
    "a/./b", "a\nb", "a\tb", "x\u007f", "/", "a/b/c/d/e/f/g/h/i/j.py",
    "\u00e9" * 128,  # 128 characters, 256 bytes
]


@pytest.mark.parametrize("name", BAD_NAMES, ids=lambda n: repr(n)[:40])
@pytest.mark.parametrize("position", ["first", "second"])
def test_invalid_file_name(name, position):
    bad = {"name": name, "content": "print(1)"}
    good = {"name": "main.py", "content": "print(1)"}
    files = [bad, good] if position == "first" else [good, bad]
    assert_error(execute({"language": "python", "files": files}), 400, "invalid_file_name")


def test_too_many_files():
    files = [{"name": "main.py", "content": "print(1)"}]
    files += [{"name": f"f{i}.txt", "content": "x"} for i in range(64)]
    assert len(files) == 65
    assert_error(execute({"language": "python", "files": files}), 400, "too_many_files")


# ---------------------------------------------------------------- transport

def test_body_too_large():
    big = json.dumps({"language": "python",
                      "code": "#" * (4 * MiB + 100) + "\nprint(1)"}).encode()
    status, headers, body = raw_http("POST", "/execute", big,
                                     {"Content-Type": "application/json"})
    assert status == 413, (status, body[:300])
    assert "x-request-id" in headers, headers
    doc = json.loads(body.decode("utf-8"))
    assert doc["error"] == "body_too_large" and doc["message"], doc


def test_body_too_large_by_content_length_alone():
    # A declared length far over the cap is refused up front, without the
    # server waiting for a body that never comes. (lighttpd may answer this
    # one itself, above its own cap, so only a JSON body is checked for.)
    t0 = time.monotonic()
    status, headers, body = raw_http(
        "POST", "/execute", b'{"language":"python"',
        {"Content-Type": "application/json", "Content-Length": str(64 * MiB)},
        timeout=15)
    assert status == 413, (status, body[:300])
    assert time.monotonic() - t0 < 10
    if headers.get("content-type", "").startswith("application/json"):
        assert json.loads(body.decode())["error"] == "body_too_large"


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded",
                                   "multipart/form-data; boundary=x"])
def test_unsupported_media_type(ctype):
    r = execute(body_with(), headers={"Content-Type": ctype})
    assert_error(r, 415, "unsupported_media_type")


def test_json_with_charset_accepted():
    r = execute(body_with(), headers={"Content-Type": "application/json; charset=utf-8"})
    assert r.status_code == 200, r.text[:500]
    assert strict_json(r)["run"]["stdout"] == "1\n"


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_wrong_method_execute(method):
    r = requests.request(method, full_url("/execute"), timeout=10)
    assert_error(r, 405, "method_not_allowed")
    assert "POST" in r.headers.get("Allow", ""), dict(r.headers)


@pytest.mark.parametrize("path", ["/runtimes", "/healthz", "/readyz"])
def test_wrong_method_get_routes(path):
    r = requests.post(full_url(path), json={}, timeout=10)
    assert_error(r, 405, "method_not_allowed")
    assert "GET" in r.headers.get("Allow", ""), dict(r.headers)


@pytest.mark.parametrize("path", ["/nope", "/execute/extra", "/v0/execute",
                                  "/runtimes/python"])
def test_unknown_route(path):
    r = requests.get(full_url(path), timeout=10)
    assert_error(r, 404, "not_found")


def test_unknown_route_post():
    assert_error(requests.post(full_url("/nope"), json={}, timeout=10), 404, "not_found")


def test_request_ids_are_unique():
    ids = {execute(b"nope").headers.get("X-Request-Id") for _ in range(5)}
    assert None not in ids and len(ids) == 5, ids


@pytest.mark.parametrize("path", ["/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd",
                                  "/..%2f..%2fetc%2fpasswd"])
def test_path_traversal_serves_nothing(path):
    status, _, body = raw_http("GET", path)
    assert status in (400, 403, 404), (status, body[:200])
    assert b"root:" not in body
