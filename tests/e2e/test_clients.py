"""The client libraries (clients/python/isobox.py, clients/js/isobox.mjs)
against the live server, streaming included, and against a local fake server
for the answers a healthy server does not give on demand (401, 429, an error
event mid-stream)."""
import http.server
import json
import os
import sys
import threading
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "helpers"))
from clients_common import box, isobox, retry, run_js  # noqa: E402,F401


# --------------------------------------------------------------- Python client


def test_python_runtimes(box, runtimes):
    assert box.runtimes() == runtimes


def test_python_execute(box):
    res = retry(lambda: box.execute("python", "import sys\nprint(sys.argv[1:], sys.stdin.read())",
                                    stdin="in", args=["a", "b"]))
    assert res["run"]["stdout"] == "['a', 'b'] in\n"
    assert res["run"]["exitCode"] == 0 and res["language"] == "python"


def test_python_execute_files_and_limits(box):
    res = retry(lambda: box.execute("python", files=[
        {"name": "main.py", "content": "import lib; print(lib.X)"},
        {"name": "lib.py", "content": "X = 5"}], limits={"wallTimeMs": 3000}))
    assert res["run"]["stdout"] == "5\n"
    assert res["limits"]["wallTimeMs"] == 3000


def test_python_failures_are_results_not_exceptions(box):
    res = retry(lambda: box.execute("python", "while True: pass", limits={"wallTimeMs": 500}))
    assert res["run"]["timedOut"] is True


def test_python_stream_yields_events_as_they_happen(box):
    code = ("import sys, time\nprint('first', flush=True)\ntime.sleep(3)\n"
            "print('err', file=sys.stderr, flush=True)\nprint('last', flush=True)")

    def go():
        t0 = time.monotonic()
        return [(ev.event, ev.data, time.monotonic() - t0) for ev in box.stream("python", code)]

    events = retry(go)
    kinds = [e[0] for e in events]
    assert kinds[0] == "stdout" and kinds[-1] == "done", kinds
    # Chunk boundaries are the pipe's: only the content and timing count.
    assert events[0][1]["stage"] == "run"
    assert events[0][1]["chunk"] and "first\n".startswith(events[0][1]["chunk"])
    assert "stderr" in kinds
    done_at = events[-1][2]
    # The first line arrived long before the end: it was streamed.
    assert done_at - events[0][2] >= 1.5, events
    done = events[-1][1]
    assert done["run"]["stdout"] == "first\nlast\n" and done["run"]["stderr"] == "err\n"


def test_python_stream_closed_early(box):
    def go():
        t0 = time.monotonic()
        gen = box.stream("python", "import time\nprint('go', flush=True)\ntime.sleep(20)")
        first = next(gen)
        gen.close()
        return first, time.monotonic() - t0

    first, took = retry(go)
    assert first.event == "stdout" and "go\n".startswith(first.data["chunk"])
    assert took < 10


def test_python_typed_errors(box):
    with pytest.raises(isobox.BadRequest) as ei:
        retry(lambda: box.execute("intercal", "x"))
    e = ei.value
    assert e.code == "unknown_language" and e.status == 400
    assert e.request_id and "intercal" in e.message
    assert isinstance(e, isobox.IsoboxError)

    with pytest.raises(isobox.BadRequest) as ei:
        retry(lambda: list(box.stream("python", "x", limits={"wallTimeMs": "soon"})))
    assert ei.value.code == "invalid_field"

    with pytest.raises(isobox.ConnectionFailed) as ei:
        isobox.Client("http://127.0.0.1:9").runtimes()
    assert ei.value.code == "network" and ei.value.status == 0

    with pytest.raises(isobox.Timeout) as ei:
        retry(lambda: box.execute("python", "import time; time.sleep(5)", timeout=0.5))
    assert ei.value.code == "timeout"


class _Fake(http.server.BaseHTTPRequestHandler):
    seen = []

    def log_message(self, *a):
        pass

    def _send(self, status, body, ctype="application/json", extra=None):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Request-Id", f"r{status}")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.seen.append((self.path, self.headers.get("X-API-Key")))
        self._send(401, json.dumps({"error": "unauthorized", "message": "a valid API key is required",
                                    "requestId": "r401"}))

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(n))
        self.seen.append((self.path, self.headers.get("X-API-Key"), body))
        if "text/event-stream" in self.headers.get("Accept", ""):
            self._send(200, 'event: stdout\ndata: {"chunk":"part","stage":"run"}\n\n'
                            'event: error\ndata: {"error":"sandbox_failed","message":"lost it",'
                            '"requestId":"rs"}\n\n', ctype="text/event-stream")
        else:
            self._send(429, json.dumps({"error": "rate_limited", "message": "slow down",
                                        "requestId": "r429"}), extra={"Retry-After": "7"})


@pytest.fixture
def fake():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Fake)
    _Fake.seen = []
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", _Fake.seen
    srv.shutdown()
    srv.server_close()


def test_python_key_and_server_errors(fake):
    url, seen = fake
    c = isobox.Client(url, api_key="k-123")
    with pytest.raises(isobox.Unauthorized) as ei:
        c.runtimes()
    assert ei.value.status == 401 and ei.value.code == "unauthorized"
    assert ei.value.request_id == "r401"
    with pytest.raises(isobox.RateLimited) as ei:
        c.execute("python", "x", limits={"wallTimeMs": 5})
    assert ei.value.retry_after == 7 and ei.value.code == "rate_limited"
    events = []
    with pytest.raises(isobox.IsoboxError) as ei:
        for ev in c.stream("python", "x"):
            events.append(ev)
    assert [e.event for e in events] == ["stdout"]
    assert ei.value.code == "sandbox_failed" and ei.value.request_id == "rs"
    assert all(s[1] == "k-123" for s in seen), seen
    assert seen[1][2] == {"language": "python", "code": "x", "limits": {"wallTimeMs": 5}}


# --------------------------------------------------------------- JS client


@pytest.fixture(scope="module")
def js_report():
    return run_js("js_client.mjs")


def test_js_runtimes_and_execute(js_report, runtimes):
    assert js_report["runtimes"] == [rt["language"] for rt in runtimes]
    assert js_report["hello"]["run"]["stdout"] == "42\n"
    assert js_report["files"]["run"]["stdout"] == "from lib\n"


def test_js_stream_is_live(js_report):
    evs = js_report["stream"]
    kinds = [e["event"] for e in evs]
    assert kinds[0] == "stdout" and kinds[-1] == "done" and "stderr" in kinds, kinds
    assert evs[0]["data"]["stage"] == "run"
    assert evs[0]["data"]["chunk"] and "first\n".startswith(evs[0]["data"]["chunk"])
    assert evs[-1]["at"] - evs[0]["at"] >= 1500, evs
    assert evs[-1]["data"] == {"exitCode": 0, "stdout": "first\nlast\n"}
    brk = js_report["earlyBreak"]
    assert "go\n".startswith(brk["first"]["data"]["chunk"]) and brk["ms"] < 10000


@pytest.mark.parametrize("key,code,status", [
    ("unknownLanguage", "unknown_language", 400),
    ("streamUnknownLanguage", "unknown_language", 400),
    ("network", "network", 0),
    ("timeout", "timeout", 0),
    ("aborted", "aborted", 0),
    ("fake401", "unauthorized", 401),
    ("fake429", "rate_limited", 429),
    ("fakeStreamError", "sandbox_failed", 200),
])
def test_js_typed_errors(js_report, key, code, status):
    e = js_report[key]
    assert e["threw"] and e["isIsoboxError"] and e["name"] == "IsoboxError", e
    assert e["code"] == code and e["status"] == status, e
    assert e["message"]
    if status:
        assert e["requestId"], e


def test_js_key_header_and_retry_after(js_report):
    assert js_report["fake429"]["retryAfter"] == 7
    assert [e["event"] for e in js_report["fakeStreamEvents"]] == ["stdout"]
    seen = js_report["fakeSeen"]
    assert len(seen) == 3 and all(s["key"] == "k-123" for s in seen), seen
    assert seen[2]["accept"] == "text/event-stream"
