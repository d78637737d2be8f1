"""POST /execute as Server-Sent Events: headers, live delivery, the done event,
errors in stream mode, and the cleanup when the client goes away."""
import json
import time

import pytest

from conftest import (MARK_PY, check_result, hard_close, healthz_ok, marked_sandboxes,
                      sse_collect, sse_events, stream_execute, wait_gone)

TWO_PARTS = ("import time, sys\n"
             "print('first', flush=True)\n"
             "time.sleep(1.5)\n"
             "print('second', flush=True)\n")


def open_stream(body, via="accept"):
    r = stream_execute(body, via=via)
    assert r.status_code == 200, (r.status_code, r.text[:1000])
    return r


def check_headers(r):
    ctype = r.headers.get("Content-Type", "")
    assert ctype.split(";")[0].strip() == "text/event-stream", ctype
    assert "no-cache" in r.headers.get("Cache-Control", ""), dict(r.headers)
    assert r.headers.get("X-Accel-Buffering", "").lower() == "no", dict(r.headers)
    assert "X-Request-Id" in r.headers, dict(r.headers)


def chunks_of(events, kind, stage="run"):
    out = []
    for ev, data, _ in events:
        if ev == kind:
            assert isinstance(data, dict) and isinstance(data.get("chunk"), str), data
            assert data.get("stage") == stage, data
            out.append(data["chunk"])
    return out


def done_of(events):
    dones = [d for ev, d, _ in events if ev == "done"]
    assert len(dones) == 1, [ev for ev, _, _ in events]
    assert events[-1][0] == "done", "done is not the last event"
    return dones[0]


@pytest.mark.parametrize("via", ["accept", "query"])
def test_stream_headers_and_events(via):
    r = open_stream({"language": "python", "code": "print('a')\nprint('b')"}, via=via)
    check_headers(r)
    events = sse_collect(r)
    kinds = {ev for ev, _, _ in events}
    assert kinds <= {"stdout", "stderr", "done"}, kinds
    assert "".join(chunks_of(events, "stdout")) == "a\nb\n"
    done = done_of(events)
    assert done["language"] == "python" and done["backend"] == "gvisor", done
    check_result(done["run"])
    assert done["run"]["stdout"] == "a\nb\n"
    assert done["run"]["exitCode"] == 0


@pytest.mark.slow
@pytest.mark.parametrize("via", ["accept", "query"])
def test_truly_streamed(via):
    t0 = time.monotonic()
    r = open_stream({"language": "python", "code": TWO_PARTS}, via=via)
    first_out = done_at = None
    seen = []
    for ev, data, t in sse_events(r):
        seen.append((ev, data, round(t - t0, 3)))
        if ev == "stdout" and first_out is None:
            first_out = t
        if ev == "done":
            done_at = t
    assert first_out is not None and done_at is not None, seen
    assert done_at - first_out >= 1.0, \
        f"output was not streamed live: first stdout {first_out - t0:.2f}s, " \
        f"done {done_at - t0:.2f}s after the request; events {seen}"


def test_stderr_events():
    code = ("import sys\n"
            "sys.stderr.write('to stderr\\n'); sys.stderr.flush()\n"
            "print('to stdout', flush=True)\n"
            "sys.exit(4)\n")
    r = open_stream({"language": "python", "code": code})
    events = sse_collect(r)
    assert "".join(chunks_of(events, "stderr")) == "to stderr\n"
    assert "".join(chunks_of(events, "stdout")) == "to stdout\n"
    done = done_of(events)
    assert done["run"]["stderr"] == "to stderr\n"
    assert done["run"]["exitCode"] == 4


def test_done_carries_full_result():
    code = ("import sys\n"
            "for i in range(200):\n"
            "    print('line', i, flush=True)\n"
            "    print('err', i, file=sys.stderr, flush=True)\n")
    r = open_stream({"language": "python", "code": code, "stdin": "",
                     "limits": {"wallTimeMs": 10000}})
    events = sse_collect(r)
    done = done_of(events)
    for k in ("language", "version", "backend", "run", "limits"):
        assert k in done, done
    check_result(done["run"])
    want_out = "".join(f"line {i}\n" for i in range(200))
    want_err = "".join(f"err {i}\n" for i in range(200))
    assert "".join(chunks_of(events, "stdout")) == want_out
    assert "".join(chunks_of(events, "stderr")) == want_err
    assert done["run"]["stdout"] == want_out
    assert done["run"]["stderr"] == want_err
    assert done["run"]["truncated"] is False


def test_stream_unicode_split_safely():
    # Multibyte characters must arrive intact even when a write splits them.
    code = ("import sys, time\n"
            "b = '\u65e5\u672c\u2713'.encode()\n"
            "for i in range(len(b)):\n"
            "    sys.stdout.buffer.write(b[i:i+1]); sys.stdout.buffer.flush(); time.sleep(0.05)\n")
    r = open_stream({"language": "python", "code": code})
    events = sse_collect(r)
    done = done_of(events)
    assert done["run"]["stdout"] == "\u65e5\u672c\u2713"
    assert "".join(chunks_of(events, "stdout")) == "\u65e5\u672c\u2713"


def test_stream_truncation_exact():
    r = open_stream({"language": "python", "code": "print('x' * 100000)",
                     "limits": {"outputBytes": 1024}})
    events = sse_collect(r)
    total = sum(len(c.encode()) for c in chunks_of(events, "stdout") + chunks_of(events, "stderr"))
    assert total == 1024, f"streamed {total} bytes, want exactly 1024"
    done = done_of(events)
    assert done["run"]["truncated"] is True, done["run"]
    assert len(done["run"]["stdout"]) + len(done["run"]["stderr"]) == 1024


@pytest.mark.slow
def test_stream_timeout_reported():
    r = open_stream({"language": "python",
                     "code": "import time\nprint('go', flush=True)\ntime.sleep(30)",
                     "limits": {"wallTimeMs": 2000}})
    events = sse_collect(r, max_seconds=30)
    done = done_of(events)
    assert done["run"]["timedOut"] is True and done["run"]["oomKilled"] is False, done
    assert done["run"]["durationMs"] <= 3000, done["run"]


@pytest.mark.parametrize("via", ["accept", "query"])
def test_stream_error_well_formed(via):
    r = stream_execute({"language": "cobol-2099", "code": "x"}, via=via)
    assert "X-Request-Id" in r.headers
    ctype = r.headers.get("Content-Type", "").split(";")[0].strip()
    if r.status_code == 400:
        assert ctype == "application/json", ctype
        body = json.loads(r.content.decode("utf-8"))
        assert body["error"] == "unknown_language" and body["message"], body
    else:
        assert r.status_code == 200 and ctype == "text/event-stream", \
            (r.status_code, ctype, r.content[:300])
        events = sse_collect(r)
        assert [ev for ev, _, _ in events] == ["error"], events
        err = events[0][1]
        assert err["error"] == "unknown_language" and err["message"], err


def test_stream_malformed_json_well_formed():
    r = stream_execute(b'{"language": ', via="accept")
    if r.status_code == 400:
        body = json.loads(r.content.decode("utf-8"))
        assert body["error"] == "invalid_json", body
    else:
        assert r.status_code == 200, r.status_code
        events = sse_collect(r)
        assert [ev for ev, _, _ in events] == ["error"], events
        assert events[0][1]["error"] == "invalid_json"


def _disconnect_case(code):
    r = open_stream({"language": "python", "code": MARK_PY + code,
                     "limits": {"wallTimeMs": 20000}})
    it = sse_events(r)
    ev, data, _ = next(it)
    assert ev == "stdout", (ev, data)
    mine = {c[0] for c in marked_sandboxes()}
    hard_close(r)
    t_closed = time.monotonic()
    try:
        assert len(mine) == 1, f"cannot tell the stream's sandbox: {mine}"
        left = wait_gone(mine, 5.0)
        assert not left, (
            f"{time.monotonic() - t_closed:.1f}s after the client disconnected "
            f"its sandbox is still there: {[(c[0][:12], c[1].get('isobox.kind'), c[2]) for c in left]}")
    finally:
        # Don't let a leak here spill into the other tests' checks.
        wait_gone(mine, 30.0)
    healthz_ok()


@pytest.mark.slow
def test_disconnect_kills_silent_sandbox():
    _disconnect_case("import time\nprint('started', flush=True)\ntime.sleep(30)\n")


@pytest.mark.slow
def test_disconnect_kills_chatty_sandbox():
    _disconnect_case("import time\nprint('started', flush=True)\n"
                     "while True:\n    print('tick', flush=True)\n    time.sleep(0.2)\n")
