"""The MCP server on POST /mcp (Streamable HTTP, JSON-RPC 2.0): the
lifecycle, the tools, results with their signals, tool errors, JSON-RPC
errors for malformed messages, batches, transport details, and the official
TypeScript SDK (@modelcontextprotocol/sdk) connecting to it."""
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


def test_tools_list_describes_both_tools():
    tools = {t["name"]: t for t in result("tools/list")["tools"]}
    assert set(tools) == {"execute_code", "list_runtimes"}
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
    assert names == {"execute_code", "list_runtimes"}
    hello = doc["hello"]
    assert hello["isError"] is False
    assert hello["structuredContent"]["run"]["stdout"] == "hello from mcp ['a'] in\n"
    assert "hello from mcp" in hello["content"][0]["text"]
    assert doc["timeout"]["structuredContent"]["run"]["timedOut"] is True
    assert doc["badLanguage"]["isError"] is True
    assert "unknown_language" in doc["badLanguage"]["content"][0]["text"]
    assert doc["runtimes"]["structuredContent"]["runtimes"]
    assert doc["unknownTool"]["code"] == -32602
