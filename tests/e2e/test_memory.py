"""test_memory.py - /v1/memory, the durable key-value store, end to end
through lighttpd: every route, header, status and error of the contract,
compare-and-set, quotas and TTL; tenant isolation with a keys file;
memory_require_key; the CAS race and the quota race; kill -9 of every
isobox.fcgi process in the middle of a burst of writes.

The contract tests run against the service at $ISOBOX_URL (keyless, as the
rest of the suite). Tests that need their own configuration (keys, small
quotas, kill -9) start private deployments (tests/e2e/helpers/isobox_deploy.py:
lighttpd spawning two isobox.fcgi, state_dir in a temporary directory); none
of them needs Docker.
"""
import base64
import concurrent.futures
import hashlib
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid

import pytest
import requests

from conftest import BASE_URL, assert_error

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "helpers"))
import isobox_deploy as dep  # noqa: E402

MiB = 1024 * 1024


def ns():
    """A fresh namespace per test: the public tenant is shared."""
    return "t-" + uuid.uuid4().hex[:12]


def url(base, path):
    return base.rstrip("/") + "/v1/memory" + path


def put(path, data, base=BASE_URL, **kw):
    kw.setdefault("timeout", 30)
    return requests.put(url(base, path), data=data, **kw)


def get(path, base=BASE_URL, **kw):
    kw.setdefault("timeout", 30)
    return requests.get(url(base, path), **kw)


def delete(path, base=BASE_URL, **kw):
    kw.setdefault("timeout", 30)
    return requests.delete(url(base, path), **kw)


def raw(method, path, body=b"", base=BASE_URL):
    """Send path exactly as given (requests would re-quote a bad %)."""
    import http.client
    import urllib.parse
    u = urllib.parse.urlsplit(base)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        c.request(method, "/v1/memory" + path, body=body)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def etag_of(data):
    return '"%s"' % hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------
# the contract, against the service under test


def test_put_get_roundtrip_binary_and_content_type():
    n = ns()
    value = bytes(range(256)) * 40 + b"\x00\xff\r\n"
    r = put("/%s/blob" % n, value, headers={"Content-Type": "image/x-test"})
    assert r.status_code == 204, r.text
    assert r.headers["ETag"] == etag_of(value)
    assert "X-Expires-At" not in r.headers
    g = get("/%s/blob" % n)
    assert g.status_code == 200
    assert g.content == value
    assert g.headers["Content-Type"] == "image/x-test"
    assert g.headers["ETag"] == etag_of(value)
    assert int(g.headers["Content-Length"]) == len(value)
    # no Content-Type: stored as application/octet-stream
    assert put("/%s/raw" % n, b"x", headers={"Content-Type": ""}).status_code == 204


def test_head_gives_headers_only():
    n = ns()
    put("/%s/h" % n, b"12345", headers={"Content-Type": "text/plain"})
    h = requests.head(url(BASE_URL, "/%s/h" % n), timeout=30)
    assert h.status_code == 200
    assert h.content == b""
    assert h.headers["ETag"] == etag_of(b"12345")
    assert h.headers["Content-Length"] == "5"
    assert h.headers["Content-Type"] == "text/plain"
    assert requests.head(url(BASE_URL, "/%s/none" % n), timeout=30).status_code == 404


def test_missing_is_404_and_delete_is_idempotent():
    n = ns()
    assert_error(get("/%s/nope" % n), 404, "not_found")
    put("/%s/k" % n, b"v")
    assert delete("/%s/k" % n).status_code == 204
    assert delete("/%s/k" % n).status_code == 204
    assert_error(get("/%s/k" % n), 404, "not_found")


def test_keys_with_slashes_and_percent_encoding():
    n = ns()
    assert put("/%s/a/b/c" % n, b"1").status_code == 204
    g = get("/%s/a%%2Fb%%2Fc" % n)
    assert g.status_code == 200 and g.content == b"1"
    assert put("/%s/sp%%20ace%%C3%%A9" % n, b"2").status_code == 204
    keys = get("/%s" % n).json()["keys"]
    assert sorted(keys) == ["a/b/c", "sp ace\u00e9"]
    st, body = raw("PUT", "/%s/bad%%zz" % n, b"x")
    assert st == 400 and b"invalid_key" in body
    st, body = raw("PUT", "/%s/bad%%4" % n, b"x")
    assert st == 400 and b"invalid_key" in body
    # NUL: lighttpd itself refuses %00 in a path, the app would too
    assert raw("PUT", "/%s/nul%%00" % n, b"x")[0] == 400
    assert_error(put("/%s/%%C3%%28" % n, b"x"), 400, "invalid_key")
    assert_error(put("/%s/" % n, b"x"), 400, "invalid_key")


def test_key_and_namespace_limits():
    n = ns()
    k512 = "k" * 512
    assert put("/%s/%s" % (n, k512), b"v").status_code == 204
    assert get("/%s/%s" % (n, k512)).content == b"v"
    # limits are on bytes: 171 three-byte characters are 513 bytes
    assert_error(put("/%s/%s" % (n, "k" * 513), b"v"), 400, "invalid_key")
    assert_error(put("/%s/%s" % (n, "\u20ac" * 171), b"v"), 400, "invalid_key")
    # long keys sharing a head stay distinct
    a, b = "p" * 400 + "a", "p" * 400 + "b"
    put("/%s/%s" % (n, a), b"A")
    put("/%s/%s" % (n, b), b"B")
    assert get("/%s/%s" % (n, a)).content == b"A"
    assert get("/%s/%s" % (n, b)).content == b"B"
    assert_error(put("/bad ns/k", b"x"), 400, "invalid_namespace")
    assert_error(put("/%s/k" % ("n" * 129), b"x"), 400, "invalid_namespace")
    assert put("/%s/k" % ("n" * 128), b"x").status_code == 204
    delete("/%s/k" % ("n" * 128))
    assert_error(put("/a$b/k", b"x"), 400, "invalid_namespace")


def test_value_limit_8_mib_through_the_web_server():
    n = ns()
    big = os.urandom(8 * MiB)
    r = put("/%s/big" % n, big, timeout=120)
    assert r.status_code == 204, r.text[:300]
    g = get("/%s/big" % n, timeout=120)
    assert g.status_code == 200 and g.content == big
    delete("/%s/big" % n)
    assert_error(put("/%s/big" % n, big + b"x", timeout=120), 413, "value_too_large")


def test_ttl():
    n = ns()
    assert_error(put("/%s/k" % n, b"v", headers={"X-TTL-Seconds": "-1"}), 400, "invalid_ttl")
    assert_error(put("/%s/k" % n, b"v", headers={"X-TTL-Seconds": "1.5"}), 400, "invalid_ttl")
    assert_error(put("/%s/k" % n, b"v", headers={"X-TTL-Seconds": "abc"}), 400, "invalid_ttl")
    r = put("/%s/forever" % n, b"v", headers={"X-TTL-Seconds": "0"})
    assert r.status_code == 204 and "X-Expires-At" not in r.headers
    r = put("/%s/short" % n, b"v", headers={"X-TTL-Seconds": "2"})
    assert r.status_code == 204
    exp = r.headers["X-Expires-At"]
    t = time.mktime(time.strptime(exp, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    assert 1 <= t - time.time() <= 3.5, exp
    g = get("/%s/short" % n)
    assert g.status_code == 200 and g.headers["X-Expires-At"] == exp
    items = get("/%s" % n).json()["items"]
    assert {i["key"]: i["expiresAt"] for i in items} == {"forever": None, "short": exp}
    # 404 from the expiry instant on, whatever the sweep does
    while time.time() < t:
        time.sleep(0.05)
    assert_error(get("/%s/short" % n), 404, "not_found")
    assert get("/%s" % n).json()["keys"] == ["forever"]
    # create-only succeeds over an expired item
    assert put("/%s/short" % n, b"again", headers={"If-None-Match": "*"}).status_code == 204


def test_conditional_requests():
    n = ns()
    p = "/%s/c" % n
    # If-None-Match: * is create-only
    r = put(p, b"one", headers={"If-None-Match": "*"})
    assert r.status_code == 204
    e1 = r.headers["ETag"]
    assert_error(put(p, b"two", headers={"If-None-Match": "*"}), 412, "precondition_failed")
    # If-Match is compare-and-set
    assert_error(put(p, b"two", headers={"If-Match": etag_of(b"other")}), 412,
                 "precondition_failed")
    r = put(p, b"two", headers={"If-Match": e1})
    assert r.status_code == 204
    e2 = r.headers["ETag"]
    assert e2 == etag_of(b"two") != e1
    assert_error(put(p, b"three", headers={"If-Match": e1}), 412, "precondition_failed")
    # a list, and *
    assert put(p, b"three", headers={"If-Match": '"x", %s' % e2}).status_code == 204
    assert put(p, b"four", headers={"If-Match": "*"}).status_code == 204
    # If-Match on a missing key fails (no item to compare with)
    assert_error(put("/%s/missing" % n, b"x", headers={"If-Match": "*"}), 412,
                 "precondition_failed")
    # GET: If-None-Match -> 304 with the ETag, no body
    e4 = etag_of(b"four")
    g = get(p, headers={"If-None-Match": e4})
    assert g.status_code == 304 and g.content == b"" and g.headers["ETag"] == e4
    assert get(p, headers={"If-None-Match": "W/" + e4}).status_code == 304
    assert get(p, headers={"If-None-Match": e1}).status_code == 200
    assert_error(get(p, headers={"If-Match": e1}), 412, "precondition_failed")
    # DELETE honours If-Match
    assert_error(delete(p, headers={"If-Match": e1}), 412, "precondition_failed")
    assert get(p).content == b"four"
    assert delete(p, headers={"If-Match": e4}).status_code == 204
    assert_error(delete(p, headers={"If-Match": e4}), 412, "precondition_failed")


def test_listing_pages_prefix_and_cursor():
    n = ns()
    names = ["a%03d" % i for i in range(25)] + ["b1", "b2"]
    for k in names:
        assert put("/%s/%s" % (n, k), k.encode()).status_code == 204
    doc = get("/%s" % n, params={"limit": 10}).json()
    assert doc["namespace"] == n
    assert doc["keys"] == names[:10]
    assert doc["listComplete"] is False and doc["nextCursor"]
    it = doc["items"][0]
    assert set(it) == {"key", "size", "etag", "expiresAt", "updatedAt"}
    assert it["key"] == "a000" and it["size"] == 4
    assert '"%s"' % it["etag"] == etag_of(b"a000")
    assert it["updatedAt"].endswith("Z")
    seen = list(doc["keys"])
    cur = doc["nextCursor"]
    while cur:
        d = get("/%s" % n, params={"limit": 10, "cursor": cur}).json()
        seen += d["keys"]
        cur = d["nextCursor"]
        assert d["listComplete"] == (cur == "")
    assert seen == names
    d = get("/%s" % n, params={"prefix": "b"}).json()
    assert d["keys"] == ["b1", "b2"] and d["nextCursor"] == "" and d["listComplete"]
    # default 100, at most 1000 (larger is clamped, not an error)
    assert len(get("/%s" % n, params={"limit": 5000}).json()["keys"]) == 27
    for bad in ("0", "-1", "x"):
        assert_error(get("/%s" % n, params={"limit": bad}), 400, "invalid_limit")
    for bad in ("%%%", "!!", "a", "@@@@"):
        assert_error(get("/%s" % n, params={"cursor": bad}), 400, "invalid_cursor")
    # a cursor made of a key is accepted (the seed's cursors: base64url of a key)
    c = base64.urlsafe_b64encode(b"a020").decode()
    assert get("/%s" % n, params={"cursor": c}).json()["keys"][:2] == ["a021", "a022"]
    # an empty namespace lists nothing
    e = get("/%s" % ns()).json()
    assert e["keys"] == [] and e["items"] == [] and e["listComplete"] is True


def test_usage():
    n = ns()
    put("/%s/k1" % n, b"12345")
    put("/%s/k22" % n, b"1")
    doc = requests.get(BASE_URL + "/v1/memory", timeout=30).json()
    mine = [x for x in doc["namespaces"] if x["namespace"] == n]
    assert mine == [{"namespace": n, "bytes": 2 + 5 + 3 + 1, "keys": 2}]
    assert doc["usage"]["keys"] >= 2
    assert doc["quota"]["bytes"] > 0 and doc["quota"]["keys"] > 0
    assert doc["quota"]["valueBytes"] == 8 * MiB


def test_methods_and_cors():
    n = ns()
    r = requests.post(url(BASE_URL, "/%s/k" % n), data=b"x", timeout=30)
    assert_error(r, 405, "method_not_allowed")
    assert "PUT" in r.headers["Allow"]
    assert_error(requests.put(url(BASE_URL, "/%s" % n), data=b"x", timeout=30), 405,
                 "method_not_allowed")
    # preflight: allowed headers and methods for browsers
    o = requests.options(url(BASE_URL, "/%s/k" % n), timeout=30, headers={
        "Origin": "https://app.example", "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "if-match, x-ttl-seconds"})
    assert o.status_code == 204
    assert o.headers["Access-Control-Allow-Origin"] == "https://app.example"
    allowed = o.headers["Access-Control-Allow-Headers"].lower()
    for h in ("x-ttl-seconds", "if-match", "if-none-match", "x-api-key", "content-type"):
        assert h in allowed
    assert "PUT" in o.headers["Access-Control-Allow-Methods"]
    # a keyless (public) cross-origin call is refused; same-origin is fine
    assert_error(get("/%s/k" % n, headers={"Origin": "https://evil.example"}), 403,
                 "forbidden_origin")


# --------------------------------------------------------------------------
# private deployments


@pytest.fixture(scope="module")
def _fcgi():
    if not os.access(dep.FCGI_BIN, os.X_OK):
        pytest.fail("%s is missing: run scripts/quickstart (make install) or set "
                    "ISOBOX_FCGI_BIN" % dep.FCGI_BIN)
    if dep.lighttpd_binary() is None:
        pytest.fail("lighttpd is not installed (Debian package lighttpd)")


@pytest.fixture
def tmp_root(_fcgi):
    d = tempfile.mkdtemp(prefix="isobox-memory-")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def deploy(tmp, config=None, procs=2):
    cat = os.path.join(tmp, "catalogue")
    os.makedirs(cat, exist_ok=True)
    shutil.copy(dep.base_catalogue(), os.path.join(cat, "languages.yaml"))
    # The races below make thousands of calls from one address: the memory
    # routes' own rate limit is off unless a test sets it.
    cfg = {"pool_languages": "", "rate_per_min": 100000, "rate_burst": 100000,
           "memory_rate_per_min": 0}
    cfg.update(config or {})
    return dep.Deployment(tmp, cat, mode="bin-path", max_procs=procs, config=cfg)


def _keys_file(tmp, tenants):
    """tenants: {name: extra yaml lines}. Returns {name: key}, path."""
    keys = {t: "key-%s-%s" % (t, uuid.uuid4().hex) for t in tenants}
    lines = ["keys:"]
    for t, extra in tenants.items():
        lines.append("  - name: %s" % t)
        lines.append("    sha256: %s" % hashlib.sha256(keys[t].encode()).hexdigest())
        for x in extra:
            lines.append("    " + x)
    kf = os.path.join(tmp, "keys.yaml")
    dep.write_atomic(kf, "\n".join(lines) + "\n")
    os.chmod(kf, 0o600)
    return keys, kf


def test_tenant_isolation(tmp_root):
    keys, kf = _keys_file(tmp_root, {"alice": [], "bob": [], "small": [
        "memory_bytes: 100", "memory_keys: 2"]})
    with deploy(tmp_root, {"keys_file": kf}) as d:
        A = {"X-API-Key": keys["alice"]}
        B = {"X-API-Key": keys["bob"]}
        S = {"Authorization": "Bearer " + keys["small"]}
        assert_error(get("/shared/k", base=d.url), 401, "unauthorized")
        assert put("/shared/secret", b"alice's", base=d.url, headers=A).status_code == 204
        e = etag_of(b"alice's")
        # bob cannot read, list, change, delete or detect alice's key
        assert_error(get("/shared/secret", base=d.url, headers=B), 404, "not_found")
        assert requests.head(url(d.url, "/shared/secret"), headers=B,
                             timeout=30).status_code == 404
        assert get("/shared", base=d.url, headers=B).json()["keys"] == []
        c = base64.urlsafe_b64encode(b"secret").decode()
        assert get("/shared", base=d.url, headers=B,
                   params={"cursor": c, "prefix": "s"}).json()["keys"] == []
        assert_error(put("/shared/secret", b"x", base=d.url, headers={**B, "If-Match": e}),
                     412, "precondition_failed")
        # create-only succeeds: bob's namespace "shared" is his own
        assert put("/shared/secret", b"bob's", base=d.url,
                   headers={**B, "If-None-Match": "*"}).status_code == 204
        u = requests.get(d.url + "/v1/memory", headers=B, timeout=30).json()
        assert u["tenant"] == "bob" and u["usage"] == {"bytes": 6 + 5, "keys": 1}
        assert delete("/shared/secret", base=d.url, headers=B).status_code == 204
        # alice still has hers, untouched
        g = get("/shared/secret", base=d.url, headers=A)
        assert g.status_code == 200 and g.content == b"alice's"
        ua = requests.get(d.url + "/v1/memory", headers=A, timeout=30).json()
        assert ua["usage"] == {"bytes": 6 + 7, "keys": 1}
        assert [x["namespace"] for x in ua["namespaces"]] == ["shared"]
        # keyed cross-origin calls get CORS headers
        g = get("/shared/secret", base=d.url, headers={**A, "Origin": "https://app.example"})
        assert g.headers["Access-Control-Allow-Origin"] == "https://app.example"
        assert "ETag" in g.headers["Access-Control-Expose-Headers"]
        # per-tenant quota from the keys file: 2 keys, 100 bytes
        assert put("/q/a", b"x" * 40, base=d.url, headers=S).status_code == 204
        assert put("/q/b", b"x" * 40, base=d.url, headers=S).status_code == 204
        assert_error(put("/q/c", b"x", base=d.url, headers=S), 413, "quota_exceeded")
        # bytes = key + value: 41 + 41, then 1 + 59 in place of 41 is 101
        assert_error(put("/q/a", b"x" * 59, base=d.url, headers=S), 413, "quota_exceeded")
        assert put("/q/a", b"x" * 58, base=d.url, headers=S).status_code == 204
        q = requests.get(d.url + "/v1/memory", headers=S, timeout=30).json()
        assert q["usage"] == {"bytes": 100, "keys": 2}
        assert q["quota"]["bytes"] == 100 and q["quota"]["keys"] == 2


def test_memory_require_key(tmp_root):
    with deploy(tmp_root, {"memory_require_key": True}, procs=1) as d:
        assert_error(put("/n/k", b"v", base=d.url), 403, "api_key_required")
        assert_error(get("/n/k", base=d.url), 403, "api_key_required")
        assert_error(requests.get(d.url + "/v1/memory", timeout=30), 403, "api_key_required")
        # other routes are not affected
        assert requests.get(d.url + "/healthz", timeout=30).status_code == 200


def test_memory_routes_are_rate_limited(tmp_root):
    """Memory calls take tokens from their own per-address bucket: a burst
    of 3 lets 3 calls through, the 4th is 429 with Retry-After; code runs
    and probes are not charged."""
    with deploy(tmp_root, {"memory_rate_per_min": 60, "memory_rate_burst": 3},
                procs=1) as d:
        assert put("/rl/k", b"v", base=d.url).status_code == 204
        assert get("/rl/k", base=d.url).status_code == 200
        assert delete("/rl/k", base=d.url).status_code == 204
        r = get("/rl/k", base=d.url)
        assert_error(r, 429, "rate_limited")
        assert int(r.headers["Retry-After"]) >= 1
        assert requests.get(d.url + "/healthz", timeout=30).status_code == 200
        # a preflight is not charged either
        r = requests.options(url(d.url, "/rl/k"), timeout=30)
        assert r.status_code == 204


def test_cas_race_16_clients(tmp_root):
    """16 clients x 100 compare-and-set increments on one key: exactly 1600."""
    with deploy(tmp_root) as d:
        p = "/race/counter"
        assert put(p, b"0", base=d.url).status_code == 204
        conflicts = []

        def worker():
            s = requests.Session()
            done = 0
            mine = 0
            while done < 100:
                g = s.get(url(d.url, p), timeout=30)
                assert g.status_code == 200
                v = int(g.content)
                r = s.put(url(d.url, p), data=str(v + 1).encode(), timeout=30,
                          headers={"If-Match": g.headers["ETag"]})
                if r.status_code == 204:
                    done += 1
                else:
                    assert r.status_code == 412, r.text
                    mine += 1
            conflicts.append(mine)

        with concurrent.futures.ThreadPoolExecutor(16) as ex:
            for f in [ex.submit(worker) for _ in range(16)]:
                f.result()
        assert get(p, base=d.url).content == b"1600"
        assert sum(conflicts) > 0, "no client ever lost a race: not concurrent"


def test_quota_race(tmp_root):
    """Writers racing for the last bytes and keys never exceed the quota."""
    with deploy(tmp_root, {"memory_tenant_bytes": 10000, "memory_tenant_keys": 50}) as d:
        ok = []
        lock = threading.Lock()

        def writer(i):
            s = requests.Session()
            for j in range(10):
                k = "w%02d-%d" % (i, j)
                r = s.put(url(d.url, "/q/" + k), data=b"x" * 395, timeout=30)
                assert r.status_code in (204, 413), r.text
                if r.status_code == 204:
                    with lock:
                        ok.append(k)
                else:
                    assert r.json()["error"] == "quota_exceeded"

        with concurrent.futures.ThreadPoolExecutor(16) as ex:
            for f in [ex.submit(writer, i) for i in range(16)]:
                f.result()
        u = requests.get(d.url + "/v1/memory", timeout=30).json()["usage"]
        # each item is 5 key bytes + 395 value bytes = 400: 25 fit in 10000
        assert len(ok) == 25 and u == {"bytes": 10000, "keys": 25}
        listed = []
        cur = ""
        while True:
            doc = get("/q", base=d.url, params={"limit": 1000, "cursor": cur}).json()
            listed += doc["keys"]
            cur = doc["nextCursor"]
            if not cur:
                break
        assert sorted(listed) == sorted(ok)

        # the key quota, racing too: 50 keys of 1 byte
        ok.clear()
        for k in list(listed):
            delete("/q/" + k, base=d.url)

        def small(i):
            s = requests.Session()
            for j in range(8):
                r = s.put(url(d.url, "/k/%02d-%d" % (i, j)), data=b"", timeout=30)
                assert r.status_code in (204, 413)
                if r.status_code == 204:
                    with lock:
                        ok.append(1)

        with concurrent.futures.ThreadPoolExecutor(16) as ex:
            for f in [ex.submit(small, i) for i in range(16)]:
                f.result()
        assert len(ok) == 50
        assert requests.get(d.url + "/v1/memory", timeout=30).json()["usage"]["keys"] == 50


def test_sweep_frees_quota(tmp_root):
    with deploy(tmp_root, {"memory_tenant_keys": 3}, procs=1) as d:
        for k in ("a", "b", "c"):
            assert put("/s/" + k, b"v", base=d.url,
                       headers={"X-TTL-Seconds": "1"}).status_code == 204
        assert_error(put("/s/d", b"v", base=d.url), 413, "quota_exceeded")
        # the housekeeping sweep runs every 2 s: within 10 s the keys are gone
        deadline = time.time() + 12
        while time.time() < deadline:
            u = requests.get(d.url + "/v1/memory", timeout=30).json()["usage"]
            if u["keys"] == 0:
                break
            time.sleep(0.25)
        assert u == {"bytes": 0, "keys": 0}
        assert put("/s/d", b"v", base=d.url).status_code == 204


def test_kill_9_loses_no_acknowledged_write(tmp_root):
    """kill -9 every isobox.fcgi mid-burst: every 204 reads back exactly."""
    with deploy(tmp_root) as d:
        acked = {}
        lock = threading.Lock()
        stop = threading.Event()

        def writer(i):
            s = requests.Session()
            j = 0
            while not stop.is_set():
                k = "w%02d/%06d" % (i, j)
                v = hashlib.sha256(k.encode()).digest() * (1 + j % 64)
                try:
                    r = s.put(url(d.url, "/burst/" + k), data=v, timeout=30)
                except requests.RequestException:
                    s = requests.Session()
                    j += 1
                    continue
                if r.status_code == 204:
                    assert r.headers["ETag"] == etag_of(v)
                    with lock:
                        acked[k] = v
                j += 1

        threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        try:
            time.sleep(1.0)
            victims = d.procs()
            assert len(victims) == 2, victims
            before = len(acked)
            for p in victims:
                os.kill(p, signal.SIGKILL)
            # lighttpd respawns them; the burst goes on
            assert dep.wait_for(lambda: set(d.procs()) - set(victims)
                                and len(d.procs()) == 2, 20), d.procs()
            time.sleep(1.0)
        finally:
            stop.set()
            for t in threads:
                t.join(60)
        assert before > 0 and len(acked) > before
        s = requests.Session()
        for k, v in acked.items():
            g = s.get(url(d.url, "/burst/" + k), timeout=30)
            assert g.status_code == 200, (k, g.status_code)
            assert g.content == v, k
            assert g.headers["ETag"] == etag_of(v)
        # usage agrees with what is there (no torn accounting)
        u = requests.get(d.url + "/v1/memory", timeout=30).json()["usage"]
        listed = 0
        cur = ""
        while True:
            doc = get("/burst", base=d.url, params={"limit": 1000, "cursor": cur}).json()
            listed += len(doc["keys"])
            for it in doc["items"]:
                assert it["etag"] == hashlib.sha256(
                    s.get(url(d.url, "/burst/" + it["key"]), timeout=30).content).hexdigest()
            cur = doc["nextCursor"]
            if not cur:
                break
        assert u["keys"] == listed >= len(acked)
