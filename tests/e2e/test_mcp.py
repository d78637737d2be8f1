"""The MCP server on POST /mcp (Streamable HTTP, JSON-RPC 2.0): the
lifecycle, the tools (execute_code, list_runtimes, and the session, file and
memory tools), results with their signals, tool errors, JSON-RPC errors for
malformed messages, batches, transport details, and the official TypeScript
SDK (@modelcontextprotocol/sdk) connecting to it."""
import base64
import hashlib
import json
import os
import sys

import pytest
import requests

from conftest import BASE_URL, check_result, execute, full_url, strict_json

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "node"))
import nodeenv  # noqa: E402

NODE_DIR = os.path.join(os.path.dirname(__file__), "..", "node")
MCP_URL = BASE_URL + "/mcp"


def post(body, headers=None):
    """POST /mcp: body is a dict/list (sent as JSON) or raw bytes."""
    h = {"Accept": "application/json, text/event-stream"}
    h.update(headers or {})
    return execute(body, path="/mcp", headers=h)


def rpc(method, params=None, id=1, headers=None):
    msg = {"jsonrpc": "2.0", "id": id, "method": method}
    if params is not None:
        msg["params"] = params
    r = post(msg, headers)
    assert r.status_code == 200, f"{r.status_code}: {r.text[:1000]}"
    assert r.headers["Content-Type"].startswith("application/json")
    doc = strict_json(r)
    assert doc["jsonrpc"] == "2.0" and doc["id"] == id, doc
    return doc


def result(method, params=None):
    doc = rpc(method, params)
    assert "error" not in doc, doc
    return doc["result"]


def call(name, arguments):
    return result("tools/call", {"name": name, "arguments": arguments})


def rpc_error(doc, code):
    assert "result" not in doc, doc
    assert doc["error"]["code"] == code, doc
    assert isinstance(doc["error"]["message"], str) and doc["error"]["message"], doc
    return doc["error"]


def text_of(res):
    assert isinstance(res["content"], list) and res["content"], res
    assert res["content"][0]["type"] == "text"
    return res["content"][0]["text"]


# --------------------------------------------------------------- lifecycle


@pytest.mark.parametrize("want,got", [
    ("2025-06-18", "2025-06-18"),
    ("2025-03-26", "2025-03-26"),
    ("2024-11-05", "2024-11-05"),
    ("1999-01-01", "2025-06-18"),  # unknown: we answer with our newest
])
def test_initialize_negotiates_the_version(want, got):
    res = result("initialize", {"protocolVersion": want, "capabilities": {},
                                "clientInfo": {"name": "pytest", "version": "1"}})
    assert res["protocolVersion"] == got
    assert res["serverInfo"]["name"] == "isobox"
    assert isinstance(res["serverInfo"]["version"], str)
    assert "tools" in res["capabilities"]
    assert isinstance(res.get("instructions"), str)


def test_initialized_notification_is_202_without_body():
    r = post({"jsonrpc": "2.0", "method": "notifications/initialized"})
    assert r.status_code == 202, r.text
    assert r.content == b""


def test_ping():
    assert result("ping") == {}


STATE_TOOLS = {"session_create", "session_exec", "session_list", "session_files_list",
               "file_read", "file_write", "session_close", "memory_get", "memory_put",
               "memory_list", "memory_delete"}
ALL_TOOLS = {"execute_code", "list_runtimes"} | STATE_TOOLS


def test_tools_list_describes_every_tool():
    tools = {t["name"]: t for t in result("tools/list")["tools"]}
    assert set(tools) == ALL_TOOLS
    ex = tools["execute_code"]
    assert ex["description"]
    schema = ex["inputSchema"]
    assert schema["type"] == "object"
    assert set(schema["required"]) == {"language", "code"}
    assert {"language", "code", "stdin", "args", "limits"} <= set(schema["properties"])
    assert schema["properties"]["args"]["items"]["type"] == "string"
    assert "wallTimeMs" in schema["properties"]["limits"]["properties"]
    assert "python" in schema["properties"]["language"]["description"]
    assert ex["outputSchema"]["type"] == "object"
    assert tools["list_runtimes"]["inputSchema"]["type"] == "object"
    assert tools["list_runtimes"]["annotations"]["readOnlyHint"] is True


# --------------------------------------------------------------- tools


def test_execute_code_returns_text_and_structured_result():
    res = call("execute_code", {"language": "python",
                                "code": "import sys\nprint('hi', sys.argv[1:], sys.stdin.read())\n"
                                        "print('warn', file=sys.stderr)",
                                "args": ["a"], "stdin": "in"})
    assert res["isError"] is False
    text = text_of(res)
    assert "exited with code 0" in text
    assert "hi ['a'] in" in text and "warn" in text
    sc = res["structuredContent"]
    assert sc["language"] == "python" and sc["backend"] == "gvisor"
    check_result(sc["run"])
    assert sc["run"]["stdout"] == "hi ['a'] in\n" and sc["run"]["stderr"] == "warn\n"


def test_execute_code_reports_exit_codes():
    res = call("execute_code", {"language": "bash", "code": "echo out; exit 7"})
    assert res["isError"] is False  # the tool worked; the program failed
    assert "exited with code 7" in text_of(res)
    assert res["structuredContent"]["run"]["exitCode"] == 7


@pytest.mark.slow
def test_execute_code_reports_a_timeout():
    res = call("execute_code", {"language": "python", "code": "while True: pass",
                                "limits": {"wallTimeMs": 1000}})
    assert "TIMED OUT" in text_of(res) and "1000 ms" in text_of(res)
    assert res["structuredContent"]["run"]["timedOut"] is True


@pytest.mark.slow
def test_execute_code_reports_out_of_memory():
    res = call("execute_code", {"language": "python",
                                "code": "b = []\nwhile True:\n    b.append(b'x' * (16 << 20))\n",
                                "limits": {"memoryBytes": 64 << 20}})
    assert "OUT OF MEMORY" in text_of(res) and "64 MiB" in text_of(res), text_of(res)
    assert res["structuredContent"]["run"]["oomKilled"] is True


def test_execute_code_reports_truncation():
    res = call("execute_code", {"language": "python",
                                "code": "while True: print('x' * 1000)",
                                "limits": {"outputBytes": 4096}})
    assert "OUTPUT TRUNCATED" in text_of(res) and "4096 bytes" in text_of(res)
    run = res["structuredContent"]["run"]
    assert run["truncated"] is True and len(run["stdout"]) + len(run["stderr"]) == 4096


def test_execute_code_limits_clamp_like_rest():
    args = {"language": "python", "code": "print(1)",
            "limits": {"wallTimeMs": 10**9, "memoryBytes": 1, "pids": 10**6}}
    mcp = call("execute_code", args)["structuredContent"]["limits"]
    r = execute({"language": "python", "code": "print(1)", "limits": args["limits"]})
    assert r.status_code == 200, r.text
    assert mcp == strict_json(r)["limits"]


def test_list_runtimes_tool(runtimes):
    res = call("list_runtimes", {})
    assert res["isError"] is False
    listed = {rt["language"] for rt in res["structuredContent"]["runtimes"]}
    assert listed == {rt["language"] for rt in runtimes if rt.get("available", True)}
    assert "python" in text_of(res)


@pytest.mark.parametrize("args,code", [
    ({"language": "intercal", "code": "x"}, "unknown_language"),
    ({"language": "python", "version": "0.0.1", "code": "x"}, "unknown_version"),
    ({"language": "python", "code": "x", "limits": {"bogus": 1}}, "invalid_field"),
    ({"language": "python", "code": "x", "limits": {"wallTimeMs": "soon"}}, "invalid_field"),
])
def test_bad_calls_are_tool_errors(args, code):
    res = call("execute_code", args)
    assert res["isError"] is True
    assert code in text_of(res)
    assert "structuredContent" not in res


# --------------------------------------------------------------- state tools


def sc_of(res):
    assert res["isError"] is False, res
    return res["structuredContent"]


@pytest.fixture
def mcp_session():
    created = sc_of(call("session_create", {"runtime": "python", "ttlSec": 300}))
    yield created
    call("session_close", {"sessionId": created["sessionId"], "token": created["token"]})


def test_state_tools_have_schemas():
    tools = {t["name"]: t for t in result("tools/list")["tools"]}
    for name in STATE_TOOLS:
        s = tools[name]["inputSchema"]
        assert s["type"] == "object" and s["additionalProperties"] is False, name
        assert set(s["required"]) <= set(s["properties"]), name
        assert tools[name]["description"], name
    assert set(tools["session_exec"]["inputSchema"]["required"]) == {"sessionId", "token"}
    assert set(tools["memory_put"]["inputSchema"]["required"]) == {"namespace", "key", "value"}
    assert tools["file_read"]["annotations"]["readOnlyHint"] is True
    assert tools["session_close"]["annotations"]["destructiveHint"] is True


def test_mcp_session_is_an_ordinary_session(mcp_session):
    sid, tok = mcp_session["sessionId"], mcp_session["token"]
    assert mcp_session["runtime"] == "python" and mcp_session["ttlSec"] == 300
    # The HTTP API sees it, with the same token, for the same tenant.
    r = requests.get(full_url(f"/v1/sessions/{sid}"), headers={"X-Session-Token": tok}, timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["expiresAt"] == mcp_session["expiresAt"]
    r = requests.put(full_url(f"/v1/sessions/{sid}/fs?path=via_http.txt"), data=b"from http",
                     headers={"X-Session-Token": tok}, timeout=30)
    assert r.status_code == 200, r.text
    res = call("session_exec", {"sessionId": sid, "token": tok,
                                "code": "print(open('via_http.txt').read())"})
    assert sc_of(res)["run"]["stdout"] == "from http\n"
    assert "sandboxRestarted" in res["structuredContent"]
    assert "exited with code 0" in text_of(res)


def test_mcp_files(mcp_session):
    ids = {"sessionId": mcp_session["sessionId"], "token": mcp_session["token"]}
    w = sc_of(call("file_write", dict(ids, path="a/b/c.txt", content="héllo")))
    assert w["bytes"] == 6 and len(w["sha256"]) == 64
    r = call("file_read", dict(ids, path="a/b/c.txt"))
    assert text_of(r) == "héllo" and sc_of(r)["content"] == "héllo"
    ls = sc_of(call("session_files_list", dict(ids, path="a/b")))
    assert [(e["name"], e["type"], e["size"]) for e in ls["entries"]] == [("c.txt", "file", 6)]
    assert "c.txt" in text_of(call("session_files_list", dict(ids, path="a/b")))
    for args, code in [
        (dict(ids, path="../x"), "invalid_path"),
        (dict(ids, path="nope.txt"), "not_found"),
        (dict(ids, path="a"), "is_a_directory"),
    ]:
        res = call("file_read", args)
        assert res["isError"] is True and code in text_of(res), (args, res)
    res = call("session_files_list", dict(ids, path="a/b/c.txt"))
    assert res["isError"] is True and "not_a_directory" in text_of(res)
    res = call("file_write", dict(ids, path="x.bin", content="!!", encoding="base64"))
    assert res["isError"] is True and "invalid_encoding" in text_of(res)
    res = call("file_write", dict(ids, path="x.bin", content="a", encoding="rot13"))
    assert res["isError"] is True and "invalid_encoding" in text_of(res)


def test_mcp_file_read_is_capped(mcp_session):
    ids = {"sessionId": mcp_session["sessionId"], "token": mcp_session["token"]}
    sc_of(call("session_exec", dict(ids, code="open('big','wb').write(b'x' * (1024 * 1024 + 1))")))
    res = call("file_read", dict(ids, path="big"))
    assert res["isError"] is True and "too_large" in text_of(res)


def test_mcp_session_errors():
    res = call("session_create", {"runtime": "intercal"})
    assert res["isError"] is True and "unknown_language" in text_of(res)
    res = call("session_create", {"runtime": "python", "limits": {"bogus": 1}})
    assert res["isError"] is True and "invalid_field" in text_of(res)
    ghost = {"sessionId": "sess_" + "0" * 32, "token": "tok_" + "0" * 64}
    for name, extra in [("session_exec", {"code": "print(1)"}), ("file_read", {"path": "x"}),
                        ("session_close", {})]:
        res = call(name, dict(ghost, **extra))
        assert res["isError"] is True and "session_not_found" in text_of(res), name
    res = call("session_exec", dict(ghost))
    assert res["isError"] is True and "code_required" in text_of(res)


def test_mcp_session_list_has_no_tokens(mcp_session):
    res = call("session_list", {})
    mine = [s for s in sc_of(res)["sessions"] if s["sessionId"] == mcp_session["sessionId"]]
    assert len(mine) == 1 and "token" not in mine[0]
    assert mcp_session["token"] not in json.dumps(res)
    assert mcp_session["sessionId"] in text_of(res)


def test_mcp_session_object_is_the_http_one(mcp_session):
    """session_create answers the HTTP API's session object (the session
    module's builder), plus sessionId and the token."""
    sid, tok = mcp_session["sessionId"], mcp_session["token"]
    r = requests.get(full_url(f"/v1/sessions/{sid}"), headers={"X-Session-Token": tok}, timeout=30)
    http = r.json()
    for k in ("id", "runtime", "version", "type", "createdAt", "ttlSec", "limits",
              "diskQuotaBytes", "lastActivityAt"):
        assert mcp_session[k] == http[k], k
    assert mcp_session["id"] == sid and mcp_session["type"] == "filesystem"


def test_mcp_kernel_session_returns_images():
    res = call("session_create", {"runtime": "python", "type": "kernel", "ttlSec": 120})
    if res["isError"]:
        assert any(c in text_of(res) for c in ("kernel_disabled", "kernel_unavailable")), res
        pytest.skip("this server has no python kernel")
    sc = sc_of(res)
    ids = {"sessionId": sc["sessionId"], "token": sc["token"]}
    try:
        assert sc["type"] == "kernel"
        out = call("session_exec", dict(ids, code="import matplotlib.pyplot as plt\n"
                                        "plt.plot([1, 3, 2])\nplt.figure()\nplt.bar([1], [2])\nx = 6\nx * 7",
                                        limits={"wallTimeMs": 20000}))
        assert out["isError"] is False, out
        kinds = [c["type"] for c in out["content"]]
        # (a cold interpreter imports matplotlib here: a generous wall time)
        assert kinds == ["text", "image", "image"], out["content"][0]["text"]
        for c in out["content"][1:]:
            assert c["mimeType"] == "image/png"
            assert base64.b64decode(c["data"]).startswith(b"\x89PNG\r\n\x1a\n")
        text = out["content"][0]["text"]
        assert "Out[1]: 42" in text and "[image 2: image/png" in text
        k = out["structuredContent"]["kernel"]
        assert k["executionCount"] == 1 and len(k["results"]) == 3
        err = call("session_exec", dict(ids, code="1 / 0"))
        assert [c["type"] for c in err["content"]] == ["text"]
        assert "Error: ZeroDivisionError: division by zero" in err["content"][0]["text"]
        assert err["structuredContent"]["kernel"]["error"]["name"] == "ZeroDivisionError"
        assert "Out[3]: 6" in text_of(call("session_exec", dict(ids, code="x")))
    finally:
        call("session_close", ids)
    bad = call("session_create", {"runtime": "python", "type": "notebook"})
    assert bad["isError"] is True and "invalid_field" in text_of(bad)


def test_mcp_memory():
    ns = f"mcp-{os.getpid()}"
    put = sc_of(call("memory_put", {"namespace": ns, "key": "k/1", "value": "v1", "ttlSec": 60}))
    assert put["etag"] == hashlib.sha256(b"v1").hexdigest() and put["expiresAt"]
    # The HTTP API sees the same value (same tenant, same store).
    r = requests.get(full_url(f"/v1/memory/{ns}/k/1"), timeout=30)
    assert r.status_code == 200 and r.content == b"v1"
    assert r.headers["ETag"] == '"%s"' % put["etag"]
    got = sc_of(call("memory_get", {"namespace": ns, "key": "k/1"}))
    assert got["value"] == "v1" and got["encoding"] == "utf8"
    assert got["contentType"].startswith("text/plain")
    res = call("memory_put", {"namespace": ns, "key": "k/1", "value": "v2", "ifMatch": "0" * 64})
    assert res["isError"] is True and "precondition_failed" in text_of(res)
    res = call("memory_put", {"namespace": ns, "key": "k/1", "value": "v2", "ifNoneMatch": "*"})
    assert res["isError"] is True and "precondition_failed" in text_of(res)
    sc_of(call("memory_put", {"namespace": ns, "key": "k/1", "value": "v2",
                              "ifMatch": '"%s"' % put["etag"]}))
    sc_of(call("memory_put", {"namespace": ns, "key": "bin", "value": "AP8=",
                              "encoding": "base64"}))
    got = sc_of(call("memory_get", {"namespace": ns, "key": "bin"}))
    assert got["value"] == "AP8=" and got["encoding"] == "base64"
    assert got["contentType"] == "application/octet-stream"
    page = sc_of(call("memory_list", {"namespace": ns, "limit": 1}))
    assert [i["key"] for i in page["items"]] == ["bin"] and page["listComplete"] is False
    page = sc_of(call("memory_list", {"namespace": ns, "cursor": page["nextCursor"]}))
    assert [i["key"] for i in page["items"]] == ["k/1"] and page["listComplete"] is True
    nss = sc_of(call("memory_list", {}))["namespaces"]
    assert {"namespace": ns, "keys": 2, "bytes": len("k/1v2bin") + 2} in nss
    res = call("memory_delete", {"namespace": ns, "key": "k/1", "ifMatch": put["etag"]})
    assert res["isError"] is True and "precondition_failed" in text_of(res)
    for k in ("k/1", "bin"):
        sc_of(call("memory_delete", {"namespace": ns, "key": k}))
    res = call("memory_get", {"namespace": ns, "key": "k/1"})
    assert res["isError"] is True and "not_found" in text_of(res)
    for args, code in [({"namespace": "bad ns", "key": "k"}, "invalid_namespace"),
                       ({"namespace": ns, "key": ""}, "invalid_key"),
                       ({"namespace": ns, "key": "a\u0000b"}, "invalid_key")]:
        res = call("memory_get", args)
        assert res["isError"] is True and code in text_of(res), args
    res = call("memory_put", {"namespace": ns, "key": "t", "value": "x", "ttlSec": -1})
    assert res["isError"] is True and "invalid_ttl" in text_of(res)


@pytest.mark.parametrize("name,args", [
    ("session_create", {}),
    ("session_create", {"runtime": 3}),
    ("session_exec", {"sessionId": "s", "code": "x"}),
    ("session_exec", {"sessionId": "s", "token": "t", "args": "a"}),
    ("file_write", {"sessionId": "s", "token": "t", "path": "p"}),
    ("file_read", {"sessionId": "s", "token": "t", "path": "p", "extra": 1}),
    ("memory_put", {"namespace": "n", "key": "k"}),
    ("memory_put", {"namespace": "n", "key": "k", "value": "v", "ttlSec": "soon"}),
    ("memory_list", {"limit": "10"}),
])
def test_state_tools_invalid_params(name, args):
    rpc_error(rpc("tools/call", {"name": name, "arguments": args}), -32602)


def test_batch_runs_cap_counts_session_steps(mcp_session):
    ids = {"sessionId": mcp_session["sessionId"], "token": mcp_session["token"]}
    calls = [{"jsonrpc": "2.0", "id": i, "method": "tools/call",
              "params": {"name": "session_exec", "arguments": dict(ids, code=f"print({i})")}}
             for i in range(5)]
    r = post(calls)
    assert r.status_code == 200, r.text
    by_id = {d["id"]: d["result"] for d in strict_json(r)}
    for i in range(4):
        assert by_id[i]["structuredContent"]["run"]["stdout"] == f"{i}\n"
    assert by_id[4]["isError"] is True and "too_many_runs" in text_of(by_id[4])


# --------------------------------------------------------------- JSON-RPC errors


@pytest.mark.parametrize("params", [
    {"name": "execute_code", "arguments": {"language": "python"}},  # no code
    {"name": "execute_code", "arguments": {"code": "print(1)"}},  # no language
    {"name": "execute_code", "arguments": {"language": 3, "code": "x"}},
    {"name": "execute_code", "arguments": {"language": "python", "code": "x", "args": "a"}},
    {"name": "execute_code", "arguments": {"language": "python", "code": "x", "args": [1]}},
    {"name": "execute_code", "arguments": {"language": "python", "code": "x", "limits": 5}},
    {"name": "execute_code", "arguments": {"language": "python", "code": "x", "network": True}},
    {"name": "execute_code", "arguments": "print(1)"},
    {"name": "no_such_tool", "arguments": {}},
    {"arguments": {}},
])
def test_invalid_params(params):
    rpc_error(rpc("tools/call", params), -32602)


def test_initialize_needs_a_protocol_version():
    rpc_error(rpc("initialize", {"capabilities": {}}), -32602)


def test_params_must_be_an_object():
    rpc_error(rpc("tools/list", [1, 2]), -32602)


@pytest.mark.parametrize("method", ["resources/list", "prompts/get", "sampling/createMessage", ""])
def test_method_not_found(method):
    rpc_error(rpc(method), -32601)


def test_parse_error():
    r = post(b'{"jsonrpc": "2.0", "id": 1, "method": ')
    assert r.status_code == 400
    doc = strict_json(r)
    assert doc["id"] is None
    rpc_error(doc, -32700)


@pytest.mark.parametrize("body", [
    {"jsonrpc": "1.0", "id": 1, "method": "ping"},
    {"id": 1, "method": "ping"},
    {"jsonrpc": "2.0", "id": 1},
    {"jsonrpc": "2.0", "id": 1, "method": 7},
    {"jsonrpc": "2.0", "id": {"a": 1}, "method": "ping"},
    42,
    b'"ping"',
    [],
])
def test_invalid_request(body):
    r = post(body)
    assert r.status_code == 400, r.text
    rpc_error(strict_json(r), -32600)


def test_batch():
    r = post([
        {"jsonrpc": "2.0", "id": "a", "method": "ping"},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
         "params": {"name": "execute_code", "arguments": {"language": "bash", "code": "echo batch"}}},
        {"jsonrpc": "2.0", "id": 3, "method": "nope"},
        {"jsonrpc": "1.0", "id": 4, "method": "ping"},
    ])
    assert r.status_code == 200, r.text
    doc = strict_json(r)
    by_id = {d["id"]: d for d in doc}
    assert set(by_id) == {"a", 2, 3, 4}
    assert by_id["a"]["result"] == {}
    assert by_id[2]["result"]["structuredContent"]["run"]["stdout"] == "batch\n"
    assert by_id[3]["error"]["code"] == -32601
    assert by_id[4]["error"]["code"] == -32600


def test_batch_runs_are_capped():
    calls = [{"jsonrpc": "2.0", "id": i, "method": "tools/call",
              "params": {"name": "execute_code",
                         "arguments": {"language": "bash", "code": f"echo {i}"}}}
             for i in range(5)]
    r = post(calls)
    assert r.status_code == 200, r.text
    by_id = {d["id"]: d["result"] for d in strict_json(r)}
    for i in range(4):
        assert by_id[i]["structuredContent"]["run"]["stdout"] == f"{i}\n"
    assert by_id[4]["isError"] is True
    assert "too_many_runs" in text_of(by_id[4])


def test_batch_of_notifications_is_202():
    r = post([{"jsonrpc": "2.0", "method": "notifications/initialized"},
              {"jsonrpc": "2.0", "method": "notifications/cancelled",
               "params": {"requestId": 1}}])
    assert r.status_code == 202 and r.content == b""


def test_responses_from_the_client_are_accepted():
    r = post({"jsonrpc": "2.0", "id": 9, "result": {}})
    assert r.status_code == 202


# --------------------------------------------------------------- transport


def test_get_is_405():
    r = requests.get(MCP_URL, headers={"Accept": "text/event-stream"}, timeout=10)
    assert r.status_code == 405
    assert "POST" in r.headers.get("Allow", "")


def test_delete_is_405():
    r = requests.delete(MCP_URL, timeout=10)
    assert r.status_code == 405


def test_session_and_version_headers_are_accepted():
    doc = rpc("ping", headers={"Mcp-Session-Id": "abc123",
                               "MCP-Protocol-Version": "2025-06-18"})
    assert doc["result"] == {}


def test_unsupported_protocol_version_header_is_400():
    r = post({"jsonrpc": "2.0", "id": 1, "method": "ping"},
             headers={"MCP-Protocol-Version": "1999-01-01"})
    assert r.status_code == 400
    rpc_error(strict_json(r), -32600)


def test_cross_origin_requests_are_refused():
    r = post({"jsonrpc": "2.0", "id": 1, "method": "ping"},
             headers={"Origin": "http://evil.example"})
    assert r.status_code == 403
    # The server's own pages may.
    r = post({"jsonrpc": "2.0", "id": 1, "method": "ping"}, headers={"Origin": BASE_URL})
    assert r.status_code == 200, r.text


def test_json_is_required():
    r = post(b'{"jsonrpc":"2.0","id":1,"method":"ping"}', headers={"Content-Type": "text/plain"})
    assert r.status_code == 415


# --------------------------------------------------------------- official SDK


@pytest.fixture(scope="module")
def node():
    return nodeenv.ensure(NODE_DIR)


@pytest.mark.slow
def test_official_typescript_sdk_client(node):
    doc = nodeenv.run_json(node, os.path.join(NODE_DIR, "mcp_client.mjs"), MCP_URL)
    assert doc["serverVersion"]["name"] == "isobox"
    assert "tools" in doc["capabilities"]
    assert doc["protocolVersion"]  # negotiated
    names = {t["name"] for t in doc["tools"]}
    assert names == ALL_TOOLS
    hello = doc["hello"]
    assert hello["isError"] is False
    assert hello["structuredContent"]["run"]["stdout"] == "hello from mcp ['a'] in\n"
    assert "hello from mcp" in hello["content"][0]["text"]
    assert doc["timeout"]["structuredContent"]["run"]["timedOut"] is True
    assert doc["badLanguage"]["isError"] is True
    assert "unknown_language" in doc["badLanguage"]["content"][0]["text"]
    assert doc["runtimes"]["structuredContent"]["runtimes"]
    assert doc["unknownTool"]["code"] == -32602


@pytest.mark.slow
def test_official_sdk_works_in_steps(node):
    """Through the SDK: a session, a file round trip (text and base64), a
    step between, memory with compare-and-set, closing."""
    doc = nodeenv.run_json(node, os.path.join(NODE_DIR, "mcp_client.mjs"), MCP_URL)
    cr = doc["sessionCreate"]
    assert cr["isError"] is False
    sid, tok = cr["structuredContent"]["sessionId"], cr["structuredContent"]["token"]
    assert sid.startswith("sess_") and tok.startswith("tok_") and sid in cr["content"][0]["text"]
    assert doc["fileWrite"]["structuredContent"]["bytes"] == len("written by the sdk\n")
    assert doc["binWrite"]["structuredContent"]["bytes"] == 4
    ex = doc["sessionExec"]
    assert ex["isError"] is False, ex
    assert ex["structuredContent"]["run"]["stdout"] == "WRITTEN BY THE SDK\n[0, 1, 254, 255]\n"
    assert "WRITTEN BY THE SDK" in ex["content"][0]["text"]
    rd = doc["fileRead"]
    assert rd["content"][0]["text"] == "19" and rd["structuredContent"]["encoding"] == "utf8"
    assert doc["binRead"]["structuredContent"] == {
        "path": "bin.dat", "bytes": 4, "content": "AAH+/w==", "encoding": "base64"}
    names = {e["name"] for e in doc["filesList"]["structuredContent"]["entries"]}
    assert {"src", "bin.dat", "result.txt"} <= names
    assert sid in {s["sessionId"] for s in doc["sessionList"]["structuredContent"]["sessions"]}
    assert doc["wrongToken"]["isError"] is True
    assert "invalid_session_token" in doc["wrongToken"]["content"][0]["text"]
    assert doc["sessionClose"]["isError"] is False
    assert doc["afterClose"]["isError"] is True
    assert "session_not_found" in doc["afterClose"]["content"][0]["text"]
    assert doc["memoryPut"]["isError"] is False
    got = doc["memoryGet"]["structuredContent"]
    assert got["value"] == "42" and got["expiresAt"] and doc["memoryGet"]["content"][0]["text"] == "42"
    assert "precondition_failed" in doc["memoryCasStale"]["content"][0]["text"]
    assert doc["memoryCasStale"]["isError"] is True and doc["memoryCas"]["isError"] is False
    assert [i["key"] for i in doc["memoryList"]["structuredContent"]["items"]] == ["answer"]
    assert doc["memoryDelete"]["isError"] is False
    assert "not_found" in doc["memoryGone"]["content"][0]["text"]
    assert doc["missingToken"]["code"] == -32602


@pytest.mark.slow
def test_official_sdk_kernel_plot_is_image_content(node):
    """Through the SDK: a kernel session's plot arrives as MCP image content
    (type image, base64 PNG data, mimeType) beside the text, and a file
    round trip goes through a cell."""
    doc = nodeenv.run_json(node, os.path.join(NODE_DIR, "mcp_client.mjs"), MCP_URL)
    k = doc["kernel"]
    if k["create"]["isError"]:
        assert "kernel_disabled" in k["create"]["text"] or "kernel_unavailable" in k["create"]["text"]
        pytest.skip("this server has no python kernel")
    assert k["create"]["type"] == "kernel" and "kernel session" in k["create"]["text"]
    plot = k["plot"]
    assert plot["isError"] is False, plot
    assert plot["types"] == ["text", "image"], plot["types"]
    assert plot["images"][0]["mimeType"] == "image/png"
    assert plot["images"][0]["magic"] == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
    assert plot["images"][0]["bytes"] > 1000
    assert "Out[1]: 42" in plot["text"] and "[image 1: image/png" in plot["text"]
    assert plot["kernel"]["executionCount"] == 1 and plot["kernel"]["error"] is None
    assert k["again"]["types"] == ["text"] and "Out[2]: [1, 3, 2]" in k["again"]["text"]
    assert k["write"]["isError"] is False
    assert k["read"]["content"][0]["text"] == "6"
    assert k["close"]["isError"] is False
