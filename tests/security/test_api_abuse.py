"""Abuse of the HTTP API itself (the second attacker of the threat model:
anyone who can reach the port). Each test asserts a clean answer -- a
well-formed JSON error or a result -- and the autouse fixture in conftest.py
checks that /healthz and a trivial run still work afterwards."""
import json
import socket
import threading
import time
import urllib.parse

import pytest
import requests

from conftest import (BASE_URL, execute, full_url, raw_http, run_ok, strict_json)


def _addr():
    u = urllib.parse.urlsplit(BASE_URL)
    return u.hostname, u.port or 80


def assert_json_error(r, statuses, codes=None):
    assert r.status_code in statuses, f"HTTP {r.status_code}: {r.text[:300]}"
    body = strict_json(r)
    assert isinstance(body.get("error"), str) and body.get("message"), body
    if codes is not None:
        assert body["error"] in codes, body
    return body


# ---------------------------------------------------------------- JSON

@pytest.mark.parametrize("shape", ["arrays-10000", "objects-10000", "arrays-100000",
                                   "in-limits-10000", "in-files-10000"])
def test_deeply_nested_json(shape):
    """Nesting 10 000 (and 100 000) levels deep is refused with 400, whether
    at the top level or inside a field, without exhausting the parser's
    stack."""
    n = 100000 if shape.endswith("100000") else 10000
    if shape.startswith("arrays"):
        body = '{"language":"python","code":"print(1)","x":' + "[" * n + "]" * n + "}"
    elif shape.startswith("objects"):
        body = '{"language":"python","code":"print(1)","x":' + '{"a":' * n + "1" + "}" * n + "}"
    elif shape.startswith("in-limits"):
        body = '{"language":"python","code":"print(1)","limits":' + '{"a":' * n + "1" + "}" * n + "}"
    else:
        body = '{"language":"python","files":' + "[" * n + "]" * n + "}"
    r = execute(body)
    assert_json_error(r, (400,), ("invalid_json",))


def _applied_limits(limits_json, must_run=True):
    """The limits the service applied to a print(1) run with these limits.
    At the floors (100 ms, 0.1 CPU) python may not even start in time: then
    only a clean timed-out result is required."""
    body = '{"language":"python","code":"print(1)","limits":%s}' % limits_json
    r = execute(body)
    assert r.status_code == 200, f"{limits_json}: HTTP {r.status_code}: {r.text[:300]}"
    doc = strict_json(r)
    run = doc["run"]
    if must_run:
        assert run["stdout"] == "1\n", doc
    else:
        assert run["stdout"] == "1\n" or run["timedOut"] or run["oomKilled"], doc
    return doc["limits"]


LIMIT_KEYS = ("memoryBytes", "cpus", "pids", "outputBytes", "wallTimeMs",
              "compileWallTimeMs", "compileMemoryBytes", "tmpfsBytes")


def test_giant_numbers_in_limits_clamped():
    """Limits far beyond any ceiling -- 1e300, 2^64, 10^30, 9.2e18 -- are
    clamped to the configured ceilings exactly like a merely large value;
    hugely negative ones to the floors like -1. No overflow, no wrap-around
    to a small or negative value, no 500."""
    big = _applied_limits(json.dumps({k: (64.0 if k == "cpus" else 1 << 50) for k in LIMIT_KEYS}))
    small = _applied_limits(json.dumps({k: (0.0 if k == "cpus" else -1) for k in LIMIT_KEYS}),
                            must_run=False)
    for giant in ("1e300", "18446744073709551616", "1000000000000000000000000000000",
                  "9223372036854775807", "9223372036854775808"):
        got = _applied_limits("{" + ",".join('"%s":%s' % (k, giant) for k in LIMIT_KEYS) + "}")
        assert got == big, f"limits of {giant}: {got} (ceilings {big})"
    for giant in ("-1e300", "-18446744073709551616", "-9223372036854775808"):
        got = _applied_limits("{" + ",".join('"%s":%s' % (k, giant) for k in LIMIT_KEYS) + "}",
                              must_run=False)
        assert got == small, f"limits of {giant}: {got} (floors {small})"


@pytest.mark.parametrize("literal", ["1e999", "-1e999", "NaN", "Infinity", "1e-999", "0x10"])
def test_non_finite_numbers_in_limits(literal):
    """Numbers that overflow a double, and literals JSON does not have, are
    either refused with 400 or clamped into range -- never applied raw."""
    body = '{"language":"python","code":"print(1)","limits":{"wallTimeMs":%s,"memoryBytes":%s}}' % (
        literal, literal)
    r = execute(body)
    if r.status_code == 200:
        doc = strict_json(r)
        run = doc["run"]
        assert run["stdout"] == "1\n" or run["timedOut"] or run["oomKilled"], doc
        for k in ("wallTimeMs", "memoryBytes"):
            v = doc["limits"][k]
            assert isinstance(v, int) and 0 < v < 1 << 40, (literal, k, v)
    else:
        assert_json_error(r, (400,), ("invalid_json", "invalid_field"))


@pytest.mark.parametrize("case", ["language", "code", "limits", "stdin", "network"])
def test_duplicate_keys(case):
    """A key given twice is handled consistently: either refused (400) or one
    of the two values is used -- and if a value that must be refused (e.g.
    "network": true) is one of them, the request is never run with it."""
    bodies = {
        "language": ('{"language":"bash","language":"python","code":"print(1)"}', None),
        "code": ('{"language":"python","code":"print(1)","code":"print(2)"}', None),
        "limits": ('{"language":"python","code":"print(1)",'
                   '"limits":{"wallTimeMs":1000},"limits":{"wallTimeMs":1e300}}', None),
        "stdin": ('{"language":"python","code":"print(input())","stdin":"a\\n","stdin":"b\\n"}',
                  None),
        "network": ('{"language":"python","code":"print(1)","network":true,"network":false}',
                    None),
    }
    body, _ = bodies[case]
    r = execute(body)
    if r.status_code != 200:
        assert_json_error(r, (400, 403), ("invalid_json", "invalid_field",
                                          "network_unavailable"))
        return
    doc = strict_json(r)
    run = doc["run"]
    if case == "language":
        assert doc["language"] in ("bash", "python"), doc
        if doc["language"] == "python":
            assert run["stdout"] == "1\n", run
    elif case == "code":
        assert run["stdout"] in ("1\n", "2\n"), run
    elif case == "limits":
        assert doc["limits"]["wallTimeMs"] >= 1000, doc["limits"]
    elif case == "stdin":
        assert run["stdout"] in ("a\n", "b\n"), run
    elif case == "network":
        # the last value (false) may win; the sandbox must still have no network
        chk = run_ok({"language": "python", "code": "import socket\n"
                      "print(sorted(set(i[1] for i in socket.if_nameindex())))"})
        assert chk["run"]["stdout"] == "['lo']\n", chk["run"]


# ---------------------------------------------------------------- HTTP-level abuse

def _slow_body(results, i, stop, total=2000):
    host, port = _addr()
    try:
        s = socket.create_connection((host, port), timeout=5)
        s.sendall(("POST /execute HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                   "Content-Length: %d\r\n\r\n{\"language\":\"python\",\"code\":\"" %
                   (host, port, total)).encode())
        sent = 0
        while not stop.is_set() and sent < total - 100:
            s.sendall(b"a")
            sent += 1
            stop.wait(1.0)
        results[i] = "abandoned after %d bytes" % sent
        s.close()
    except OSError as e:
        results[i] = "error %s" % e


def _slow_headers(results, i, stop):
    host, port = _addr()
    try:
        s = socket.create_connection((host, port), timeout=5)
        s.sendall(("POST /execute HTTP/1.1\r\nHost: %s:%d\r\n" % (host, port)).encode())
        n = 0
        while not stop.is_set():
            s.sendall(b"X-Slow-%d: %d\r\n" % (n, n))
            n += 1
            stop.wait(1.0)
        results[i] = "abandoned after %d headers" % n
        s.close()
    except OSError as e:
        results[i] = "error %s" % e


@pytest.mark.slow
def test_slowloris_does_not_block_others():
    """32 connections trickle a request body (or headers) one byte a second
    for 10 s, then abandon. Meanwhile every other client is served promptly:
    /healthz and real runs answer in a few seconds throughout."""
    stop = threading.Event()
    results = {}
    threads = [threading.Thread(target=_slow_body if i % 2 == 0 else _slow_headers,
                                args=(results, i, stop), daemon=True) for i in range(32)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    latencies = []
    t_end = time.monotonic() + 10
    while time.monotonic() < t_end:
        t0 = time.monotonic()
        h = requests.get(full_url("/healthz"), timeout=10)
        assert h.status_code == 200, h.text[:200]
        r = execute({"language": "python", "code": "print('through')"}, timeout=30)
        assert r.status_code == 200 and strict_json(r)["run"]["stdout"] == "through\n", r.text[:300]
        latencies.append(time.monotonic() - t0)
    stop.set()
    for t in threads:
        t.join(10)
    assert len(latencies) >= 2, latencies
    assert max(latencies) < 8, f"requests were held up by the slow clients: {latencies}"


@pytest.mark.parametrize("case", ["200-headers", "1000-headers", "64KiB-header",
                                  "64KiB-url"])
def test_header_flood(case):
    """Floods of headers, one huge header or a huge URL are answered cleanly:
    a 4xx from the web server, or a normal answer -- never a hang, a 5xx or
    a dropped connection without an answer."""
    headers = {"Content-Type": "application/json"}
    path = "/execute"
    if case == "200-headers":
        headers.update({"X-Flood-%d" % i: "v" * 100 for i in range(200)})
    elif case == "1000-headers":
        headers.update({"X-Flood-%d" % i: "v" * 50 for i in range(1000)})
    elif case == "64KiB-header":
        headers["X-Huge"] = "h" * (64 * 1024)
    else:
        path = "/execute?" + "q" * (64 * 1024)
    body = json.dumps({"language": "python", "code": "print('hdr')"}).encode()
    status, h, rest = raw_http("POST", path, body, headers, timeout=60)
    assert 200 <= status < 500, (case, status, rest[:300])
    if status == 200:
        assert json.loads(rest)["run"]["stdout"] == "hdr\n", rest[:300]


def test_thousand_quick_404s():
    """1000 requests for unknown paths in quick succession each get a JSON
    404 and do not slow the service down or exhaust anything."""
    t0 = time.monotonic()
    with requests.Session() as s:
        for i in range(1000):
            r = s.get(full_url("/no-such-route-%d" % i), timeout=10)
            assert r.status_code == 404, (i, r.status_code, r.text[:200])
            if i % 100 == 0:
                assert strict_json(r)["error"] == "not_found", r.text[:200]
    assert time.monotonic() - t0 < 120


@pytest.mark.parametrize("case", ["cl-and-te", "te-chunked-bad", "cl-too-long-then-close",
                                  "two-cls"])
def test_malformed_framing(case):
    """Ambiguous or broken request framing (Content-Length with
    Transfer-Encoding, two Content-Lengths, a bad chunk size, a body shorter
    than announced) is refused or times out cleanly, and never runs code
    smuggled in a second request."""
    host, port = _addr()
    smuggled = b"POST /execute HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" \
               b"Content-Length: 50\r\n\r\n" + \
               b'{"language":"bash","code":"echo SMUGGLED"}'.ljust(50)
    body = b'{"language":"python","code":"print(1)"}'
    if case == "cl-and-te":
        req = (b"POST /execute HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" %
               (host.encode(), len(body))) + smuggled
    elif case == "te-chunked-bad":
        req = (b"POST /execute HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
               b"Transfer-Encoding: chunked\r\n\r\nzz\r\n%s\r\n0\r\n\r\n" % (host.encode(), body))
    elif case == "two-cls":
        req = (b"POST /execute HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\nContent-Length: 0\r\n\r\n%s" %
               (host.encode(), len(body), body)) + smuggled
    else:
        req = (b"POST /execute HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
               b"Content-Length: 100000\r\n\r\n%s" % (host.encode(), body))
    s = socket.create_connection((host, port), timeout=20)
    data = b""
    try:
        s.sendall(req)
        if case == "cl-too-long-then-close":
            s.shutdown(socket.SHUT_WR)
        while True:
            try:
                b = s.recv(65536)
            except socket.timeout:
                break
            if not b:
                break
            data += b
    finally:
        s.close()
    assert b"SMUGGLED" not in data, data[:500]
    if data:
        status = int(data.split(b" ", 2)[1])
        assert status < 500 or status == 503 and b"capacity" in data, data[:300]
