"""test_state_attacks.py - attacks on the stateful surfaces from outside
(issue 21, docs/THREAT_MODEL.md "Boundary II"): every new route without a
key, session tokens, cross-tenant access to sessions, files, kernels,
memory and volumes (get, list, change, detect existence), file API tricks
(hard links, a download raced by writers, the workspace itself replaced,
a volume full of symlinks), memory names with odd bytes, huge headers,
cursor tampering and TTL overflow, volume attach races, read-only writes,
snapshots of a volume being written, and exhaustion (sessions, volumes,
keys, files, slow uploads, idle kernels). Each case asserts the exact
answer.

One private deployment with keys (alice, bob) and a btrfs store of its own
(root, btrfs-progs; $ISOBOX_FCGI_BIN), so tenants exist whatever the main
deployment's keys are. Everything made is deleted; the module's leak check
applies.
"""
import base64
import concurrent.futures as cf
import hashlib
import os
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid

import pytest
import requests

from conftest import assert_error

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e",
                                "helpers"))
import isobox_deploy as dep  # noqa: E402
import session_client as sc  # noqa: E402

T = 120
MiB = 1024 * 1024
MAX_SESSIONS = 6
MAX_VOLUMES = 40
BOB_KEYS = 500


# --------------------------------------------------------------------------
# the deployment


@pytest.fixture(scope="module")
def d():
    if not sc.have_btrfs():
        pytest.skip("needs root and btrfs-progs for a private store")
    tmp = tempfile.mkdtemp(prefix="isobox-state-attacks-")
    keys = {t: "key-%s-%s" % (t, uuid.uuid4().hex) for t in ("alice", "bob")}
    lines = ["keys:"]
    for t, k in keys.items():
        lines += ["  - name: %s" % t, "    sha256: %s" % hashlib.sha256(k.encode()).hexdigest()]
    lines.append("    memory_keys: %d" % BOB_KEYS)
    kf = os.path.join(tmp, "keys.yaml")
    dep.write_atomic(kf, "\n".join(lines) + "\n")
    cfg = {"keys_file": kf, "session_max_per_tenant": MAX_SESSIONS,
           "volume_max_per_tenant": MAX_VOLUMES, "volume_default_bytes": "16MiB"}
    try:
        with sc.btrfs_store(tmp, "3G") as store:
            with sc.deployment(tmp, store, cfg, name="sattack", procs=3) as dd:
                dd.store = store
                dd.A = {"X-API-Key": keys["alice"]}
                dd.B = {"X-API-Key": keys["bob"]}
                dd.keys = keys
                yield dd
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def vcreate(d, headers, **body):
    body.setdefault("name", "v-" + uuid.uuid4().hex[:10])
    r = requests.post(d.url + "/v1/volumes", json=body, headers=headers, timeout=T)
    assert r.status_code == 201, r.text
    return r.json()


def vdelete(d, headers, vid):
    r = requests.delete(d.url + "/v1/volumes/" + vid, headers=headers, timeout=T)
    assert r.status_code == 204, r.text


@pytest.fixture(scope="module")
def alice(d):
    """alice's filesystem session, her kernel session and her volume."""
    s = sc.new_session(d.url, d.A)
    k = sc.new_session(d.url, d.A, type="kernel")
    v = vcreate(d, d.A)
    assert s.put("secret.txt", b"alice's file").status_code == 200
    r = requests.put(d.url + "/v1/volumes/%s/fs" % v["id"], params={"path": "vsecret"},
                     data=b"alice's volume", headers=d.A, timeout=T)
    assert r.status_code == 200, r.text
    assert requests.put(d.url + "/v1/memory/ns/secret", data=b"alice's value",
                        headers=d.A, timeout=T).status_code == 204
    yield {"s": s, "k": k, "v": v}
    for x in (s, k):
        assert x.delete().status_code == 204
    vdelete(d, d.A, v["id"])
    requests.delete(d.url + "/v1/memory/ns/secret", headers=d.A, timeout=T)


def call(d, method, path, headers=None, **kw):
    return requests.request(method, d.url + path, headers=headers or {}, timeout=T, **kw)


# --------------------------------------------------------------------------
# every new route without a key (keys configured): 401, nothing done

ROUTES = [
    ("GET", "/v1/sessions", None),
    ("POST", "/v1/sessions", {"runtime": "python"}),
    ("GET", "/v1/sessions/{s}", None),
    ("PATCH", "/v1/sessions/{s}", {"ttlSec": 5}),
    ("DELETE", "/v1/sessions/{s}", None),
    ("POST", "/v1/sessions/{s}/exec", {"code": "open('pwned','w')"}),
    ("POST", "/v1/sessions/{s}/interrupt", None),
    ("POST", "/v1/sessions/{s}/fork", None),
    ("POST", "/v1/sessions/{k}/restart", None),
    ("GET", "/v1/sessions/{s}/fs?path=secret.txt", None),
    ("PUT", "/v1/sessions/{s}/fs?path=pwned", b"x"),
    ("DELETE", "/v1/sessions/{s}/fs?path=secret.txt", None),
    ("GET", "/v1/volumes", None),
    ("POST", "/v1/volumes", {"name": "keyless"}),
    ("GET", "/v1/volumes/{v}", None),
    ("DELETE", "/v1/volumes/{v}", None),
    ("GET", "/v1/volumes/{v}/fs?path=vsecret", None),
    ("PUT", "/v1/volumes/{v}/fs?path=pwned", b"x"),
    ("DELETE", "/v1/volumes/{v}/fs?path=vsecret", None),
    ("GET", "/v1/memory", None),
    ("GET", "/v1/memory/ns", None),
    ("GET", "/v1/memory/ns/secret", None),
    ("PUT", "/v1/memory/ns/secret", b"pwned"),
    ("DELETE", "/v1/memory/ns/secret", None),
]

BAD_KEYS = {
    "none": {},
    "empty": {"X-API-Key": ""},
    "wrong": {"X-API-Key": "key-alice-" + "0" * 32},
    "digest-as-key": None,  # the sha256 in the keys file, sent as the key
    "bearer-wrong": {"Authorization": "Bearer nope"},
    "key-plus-space": None,
}


def _bad_key(d, name):
    if name == "digest-as-key":
        return {"X-API-Key": hashlib.sha256(d.keys["alice"].encode()).hexdigest()}
    if name == "key-plus-space":
        return {"X-API-Key": d.keys["alice"] + "x"}
    return BAD_KEYS[name]


def _untouched(d, a):
    s, v = a["s"], a["v"]
    assert s.get("secret.txt").content == b"alice's file"
    assert "pwned" not in s.ls()
    r = call(d, "GET", "/v1/volumes/%s/fs?path=vsecret" % v["id"], d.A)
    assert r.content == b"alice's volume"
    assert call(d, "GET", "/v1/memory/ns/secret", d.A).content == b"alice's value"
    assert s.state() in ("running", "stopped")


@pytest.mark.parametrize("method,path,body", ROUTES,
                         ids=["%s %s" % (m, p) for m, p, _ in ROUTES])
def test_route_without_key(d, alice, method, path, body):
    s, k, v = alice["s"], alice["k"], alice["v"]
    p = path.format(s=s.id, k=k.id, v=v["id"])
    kw = {}
    if isinstance(body, dict):
        kw["json"] = body
    elif body is not None:
        kw["data"] = body
    # the session's own token does not stand in for the key
    h = {"X-Session-Token": (k if "{k}" in path else s).token}
    assert_error(call(d, method, p, h, **kw), 401, "unauthorized")
    _untouched(d, alice)


@pytest.mark.parametrize("name", sorted(BAD_KEYS))
def test_bad_keys(d, alice, name):
    h = dict(_bad_key(d, name), **{"X-Session-Token": alice["s"].token})
    for m, p in (("GET", "/v1/sessions/" + alice["s"].id), ("GET", "/v1/volumes"),
                 ("GET", "/v1/memory/ns/secret")):
        r = call(d, m, p, h)
        assert_error(r, 401, "unauthorized")
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
    _untouched(d, alice)


# --------------------------------------------------------------------------
# session tokens


def test_token_guessing_never_gets_in(d, alice):
    s = alice["s"]
    h = dict(d.A)
    for i in range(200):
        h["X-Session-Token"] = "tok_" + os.urandom(32).hex()
        assert_error(requests.get(s.url(), headers=h, timeout=T), 401,
                     "invalid_session_token")
    # and the owner is not locked out by them
    assert s.info().status_code == 200


@pytest.mark.parametrize("variant", ["upper-case", "no-prefix", "doubled", "trailing-nul",
                                     "other-session", "other-tenant-key"])
def test_token_variants(d, alice, variant):
    s, k = alice["s"], alice["k"]
    h = dict(d.A)
    tok = {"upper-case": "tok_" + s.token[4:].upper(), "no-prefix": s.token[4:],
           "doubled": s.token + s.token[4:], "trailing-nul": s.token + "%00",
           "other-session": k.token, "other-tenant-key": s.token}[variant]
    h["X-Session-Token"] = tok
    if variant == "other-tenant-key":
        # bob holding alice's token: her session does not exist for him
        h.update(d.B)
        assert_error(requests.get(s.url(), headers=h, timeout=T), 404, "session_not_found")
        return
    assert_error(requests.get(s.url(), headers=h, timeout=T), 401, "invalid_session_token")
    assert_error(requests.post(s.url("/exec"), json={"code": "print(1)"}, headers=h,
                               timeout=T), 401, "invalid_session_token")


def test_token_reuse_after_delete(d):
    s = sc.new_session(d.url, d.A)
    assert s.put("f", b"x").status_code == 200
    assert s.delete().status_code == 204
    for r in (s.info(), s.get("f"), s.put("f", b"y"), s.exec("print(1)"), s.delete(),
              requests.post(s.url("/fork"), headers=s.h(), timeout=T)):
        assert_error(r, 404, "session_not_found")
    # a new session never gets the old id or token back
    t = sc.new_session(d.url, d.A)
    try:
        assert t.id != s.id and t.token != s.token
        assert_error(requests.get(t.url(), headers=dict(d.A, **{"X-Session-Token": s.token}),
                                  timeout=T), 401, "invalid_session_token")
    finally:
        t.delete()


def test_token_timing_is_flat(d, alice):
    """A wrong token sharing 63 hex digits with the right one takes no
    longer to refuse than one sharing none (digests compared in constant
    time): medians within 5 ms over interleaved samples."""
    s = alice["s"]
    near = s.token[:-1] + ("0" if s.token[-1] != "0" else "1")
    far = "tok_" + "".join("0" if c != "0" else "1" for c in s.token[4:])
    sess = requests.Session()
    t_near, t_far = [], []
    for i in range(60):
        for tok, acc in ((near, t_near), (far, t_far)):
            t0 = time.perf_counter()
            r = sess.get(s.url(), headers=dict(d.A, **{"X-Session-Token": tok}), timeout=T)
            acc.append(time.perf_counter() - t0)
            assert r.status_code == 401
    sess.close()
    assert abs(statistics.median(t_near) - statistics.median(t_far)) < 0.005, \
        (statistics.median(t_near), statistics.median(t_far))


def test_session_id_guessing(d, alice):
    h = dict(d.A, **{"X-Session-Token": alice["s"].token})
    for sid in ("sess_" + os.urandom(16).hex(), "sess_" + alice["s"].id[5:].upper(),
                alice["s"].id + "0", "sess_", alice["s"].id[:-1]):
        assert_error(call(d, "GET", "/v1/sessions/" + sid, h), 404, "session_not_found")


# --------------------------------------------------------------------------
# cross-tenant: bob, even holding alice's token, sees nothing of hers, and
# his answers for her ids are exactly those for ids that never existed

CROSS = [
    ("GET", "", None),
    ("PATCH", "", {"ttlSec": 1}),
    ("DELETE", "", None),
    ("POST", "/exec", {"code": "open('pwned', 'w').write('bob')"}),
    ("POST", "/interrupt", None),
    ("POST", "/fork", None),
    ("GET", "/fs?path=secret.txt", None),
    ("GET", "/fs?path=", None),
    ("HEAD", "/fs?path=secret.txt", None),
    ("PUT", "/fs?path=secret.txt", b"bob was here"),
    ("DELETE", "/fs?path=secret.txt", None),
]


@pytest.mark.parametrize("method,sub,body", CROSS, ids=["%s %s" % (m, p or "/") for m, p, _ in CROSS])
def test_cross_tenant_session(d, alice, method, sub, body):
    s = alice["s"]
    kw = {"json": body} if isinstance(body, dict) else ({"data": body} if body else {})
    h = dict(d.B, **{"X-Session-Token": s.token})
    r = call(d, method, "/v1/sessions/%s%s" % (s.id, sub), h, **kw)
    ghost = call(d, method, "/v1/sessions/sess_%s%s" % (os.urandom(16).hex(), sub), h, **kw)
    if method == "HEAD":
        assert r.status_code == ghost.status_code == 404
    else:
        assert_error(r, 404, "session_not_found")
        assert_error(ghost, 404, "session_not_found")
        assert r.json()["message"] == ghost.json()["message"]
    _untouched(d, alice)


@pytest.mark.parametrize("op", ["exec", "interrupt", "restart"])
def test_cross_tenant_kernel(d, alice, op):
    k = alice["k"]
    h = dict(d.B, **{"X-Session-Token": k.token})
    body = {"code": "x = 'bob'"} if op == "exec" else None
    assert_error(call(d, "POST", "/v1/sessions/%s/%s" % (k.id, op), h, json=body), 404,
                 "session_not_found")


def test_cross_tenant_lists(d, alice):
    r = call(d, "GET", "/v1/sessions", d.B)
    assert r.status_code == 200
    ids = [x["id"] for x in r.json()["sessions"]]
    assert alice["s"].id not in ids and alice["k"].id not in ids
    r = call(d, "GET", "/v1/volumes", d.B)
    assert alice["v"]["id"] not in [x["id"] for x in r.json()["volumes"]]
    u = call(d, "GET", "/v1/memory", d.B).json()
    assert u["tenant"] == "bob" and "ns" not in [n["namespace"] for n in u["namespaces"]]


@pytest.mark.parametrize("method,sub", [("GET", ""), ("GET", "/fs?path=vsecret"),
                                        ("GET", "/fs?path="), ("PUT", "/fs?path=vsecret"),
                                        ("DELETE", "/fs?path=vsecret"), ("DELETE", "")])
def test_cross_tenant_volume_same_as_ghost(d, alice, method, sub):
    v = alice["v"]
    kw = {"data": b"bob"} if method == "PUT" else {}
    r = call(d, method, "/v1/volumes/%s%s" % (v["id"], sub), d.B, **kw)
    g = call(d, method, "/v1/volumes/vol_%s%s" % (os.urandom(16).hex(), sub), d.B, **kw)
    assert_error(r, 404, "volume_not_found")
    assert_error(g, 404, "volume_not_found")
    assert r.json()["message"] == g.json()["message"]
    _untouched(d, alice)


def test_cross_tenant_volume_attach_in_list_form(d, alice):
    for mode, path in (("ro", "/mnt/x"), ("rw", "/data")):
        r = sc.create(d.url, {"runtime": "python", "volumes": [
            {"id": alice["v"]["id"], "mountPath": path, "mode": mode}]}, d.B)
        assert_error(r, 404, "volume_not_found")
    # nor as the source of a copy, nor by its name
    r = call(d, "POST", "/v1/volumes", d.B, json={"name": "c", "from": alice["v"]["id"]})
    assert_error(r, 404, "volume_not_found")
    r = call(d, "GET", "/v1/volumes", d.B)
    assert alice["v"]["name"] not in [x["name"] for x in r.json()["volumes"]]


def test_cross_tenant_memory_etag_probe(d, alice):
    """bob cannot learn whether alice stores a value by sending its ETag:
    his conditional calls see his own (empty) namespace only."""
    e = '"%s"' % hashlib.sha256(b"alice's value").hexdigest()
    r = call(d, "GET", "/v1/memory/ns/secret", dict(d.B, **{"If-None-Match": e}))
    assert_error(r, 404, "not_found")
    r = call(d, "DELETE", "/v1/memory/ns/secret", dict(d.B, **{"If-Match": e}))
    assert_error(r, 412, "precondition_failed")
    r = call(d, "GET", "/v1/memory/ns", d.B, params={"prefix": "sec"})
    assert r.status_code == 200 and r.json()["keys"] == []
    _untouched(d, alice)


def test_cross_tenant_fork_and_volume_of_fork(d, alice):
    """A fork belongs to the tenant that made it: bob cannot fork alice's
    session, and alice's fork is hers (bob cannot see it either)."""
    s = alice["s"]
    r = call(d, "POST", s.url("/fork")[len(d.url):], dict(d.A, **{"X-Session-Token": s.token}))
    assert r.status_code == 201, r.text
    f = sc.Session(d.url, r.json(), d.A)
    try:
        assert f.get("secret.txt").content == b"alice's file"
        h = dict(d.B, **{"X-Session-Token": f.token})
        assert_error(call(d, "GET", "/v1/sessions/" + f.id, h), 404, "session_not_found")
        assert_error(call(d, "GET", "/v1/sessions/%s/fs?path=secret.txt" % f.id, h), 404,
                     "session_not_found")
    finally:
        assert f.delete().status_code == 204


# --------------------------------------------------------------------------
# memory: odd bytes, huge headers, cursors, TTL


def refused_400(r, code):
    """400 from the service (its JSON error with code) or, for bytes the web
    server will not pass on (NUL, invalid UTF-8, control characters), 400
    from the web server before the service sees the request."""
    assert r.status_code == 400, (r.status_code, r.text[:300])
    if r.headers.get("Content-Type", "").startswith("application/json"):
        assert_error(r, 400, code)


@pytest.mark.parametrize("path,code", [
    ("/v1/memory/ns/a%00b", "invalid_key"),
    ("/v1/memory/ns/%ff%fe", "invalid_key"),
    ("/v1/memory/ns/%c0%af", "invalid_key"),          # overlong "/"
    ("/v1/memory/ns/%ed%a0%80", "invalid_key"),       # a surrogate
    ("/v1/memory/n%2Fs/k", "invalid_namespace"),
    ("/v1/memory/n%20s/k", "invalid_namespace"),
    ("/v1/memory/%C3%A9/k", "invalid_namespace"),
    ("/v1/memory/%00/k", "invalid_namespace"),
], ids=["nul", "ff-fe", "overlong", "surrogate", "slash-ns", "space-ns", "utf8-ns", "nul-ns"])
def test_memory_odd_bytes(d, path, code):
    refused_400(call(d, "PUT", path, d.B, data=b"v"), code)
    refused_400(call(d, "GET", path, d.B), code)
    assert call(d, "GET", "/v1/memory", d.B).json()["usage"]["keys"] == 0


def test_memory_dotdot_namespace_is_just_a_name(d, alice):
    """".." is a valid namespace (a row prefix, never a path): it holds its
    own keys and reaches no other namespace or tenant."""
    assert call(d, "PUT", "/v1/memory/%2e%2e/secret", d.B, data=b"dots").status_code == 204
    try:
        u = call(d, "GET", "/v1/memory", d.B).json()
        assert [n["namespace"] for n in u["namespaces"]] == [".."], u
        assert_error(call(d, "GET", "/v1/memory/ns/secret", d.B), 404, "not_found")
        assert call(d, "GET", "/v1/memory/%2e%2e/secret", d.B).content == b"dots"
    finally:
        assert call(d, "DELETE", "/v1/memory/%2e%2e/secret", d.B).status_code == 204
    _untouched(d, alice)


def test_memory_bad_escape_is_literal(d):
    """A '%' not followed by two hex digits is kept as is: %zz and %25zz
    name the same key."""
    assert call(d, "PUT", "/v1/memory/esc/%zz", d.B, data=b"v").status_code == 204
    try:
        assert call(d, "GET", "/v1/memory/esc/%25zz", d.B).content == b"v"
        assert call(d, "GET", "/v1/memory/esc", d.B).json()["keys"] == ["%zz"]
    finally:
        assert call(d, "DELETE", "/v1/memory/esc/%25zz", d.B).status_code == 204


@pytest.mark.parametrize("ttl", ["316224001", "9223372036854775808", "18446744073709551617",
                                 "-1", "1e3", "0x10", "+5", "5 5", "9" * 5000, "5\x0b"],
                         ids=["max+1", "2^63", "2^64+1", "negative", "exp", "hex", "plus",
                              "two-numbers", "5000-digits", "vtab"])
def test_memory_ttl_overflow(d, ttl):
    r = call(d, "PUT", "/v1/memory/ttl/k", dict(d.B, **{"X-TTL-Seconds": ttl}), data=b"v")
    refused_400(r, "invalid_ttl")
    assert_error(call(d, "GET", "/v1/memory/ttl/k", d.B), 404, "not_found")


def test_memory_ttl_maximum_is_exact(d):
    r = call(d, "PUT", "/v1/memory/ttl/max", dict(d.B, **{"X-TTL-Seconds": "316224000"}),
             data=b"v")
    assert r.status_code == 204, r.text
    exp = r.headers["X-Expires-At"]
    assert int(exp[:4]) >= time.gmtime().tm_year + 9, exp
    assert call(d, "DELETE", "/v1/memory/ttl/max", d.B).status_code == 204


def _etags(n, extra=()):
    return ", ".join(['"%064x"' % i for i in range(n)] + ['"%s"' % x for x in extra])


@pytest.mark.parametrize("hdr", ["If-Match", "If-None-Match", "Content-Type"])
def test_memory_huge_headers(d, hdr):
    """~6 KiB of conditions are evaluated exactly (90 ETags, the value's own
    among them or not); a Content-Type over 255 bytes is refused; past the
    web server's header cap (8 KiB) the request never reaches the service
    (431), and nothing is written either way."""
    u = "/v1/memory/hh/k"
    e = hashlib.sha256(b"v").hexdigest()
    assert call(d, "PUT", u, d.B, data=b"v").status_code == 204
    try:
        if hdr == "Content-Type":
            assert_error(call(d, "PUT", u, dict(d.B, **{hdr: "text/plain; x=" + "a" * 6000}),
                              data=b"w"), 400, "invalid_content_type")
        elif hdr == "If-Match":
            assert_error(call(d, "PUT", u, dict(d.B, **{hdr: _etags(90)}), data=b"w"), 412,
                         "precondition_failed")
            assert call(d, "PUT", u, dict(d.B, **{hdr: _etags(90, [e])}),
                        data=b"v").status_code == 204
        else:
            assert_error(call(d, "PUT", u, dict(d.B, **{hdr: _etags(90, [e])}), data=b"w"),
                         412, "precondition_failed")
            assert call(d, "GET", u, dict(d.B, **{hdr: _etags(90, [e])})).status_code == 304
        r = call(d, "PUT", u, dict(d.B, **{hdr: _etags(130)}), data=b"w")
        assert r.status_code == 431, r.status_code
        assert call(d, "GET", u, d.B).content == b"v"
    finally:
        assert call(d, "DELETE", u, d.B).status_code == 204


@pytest.mark.parametrize("cursor", ["!!!", "A" * 5000, "=" * 4, "AAAA====AAAA"],
                         ids=["not-b64", "5000-chars", "only-pad", "pad-in-middle"])
def test_memory_cursor_tampering(d, cursor):
    if isinstance(cursor, bytes):
        cursor = cursor.decode()
    r = call(d, "GET", "/v1/memory/cur", d.B, params={"cursor": cursor})
    assert_error(r, 400, "invalid_cursor")


def test_memory_cursor_cannot_leave_namespace(d, alice):
    """A cursor naming a key of another namespace (or another tenant's)
    lists only the caller's namespace from that point."""
    for k in ("a", "b", "c"):
        assert call(d, "PUT", "/v1/memory/mine/" + k, d.B, data=b"x").status_code == 204
    try:
        for raw in (b"", b"b", b"secret", b"\xff" * 40, b"zzzz"):
            c = base64.urlsafe_b64encode(raw).decode().rstrip("=")
            r = call(d, "GET", "/v1/memory/mine", d.B, params={"cursor": c} if c else {})
            if r.status_code == 400:
                assert_error(r, 400, "invalid_cursor")
                continue
            assert r.status_code == 200, r.text
            keys = r.json()["keys"]
            assert set(keys) <= {"a", "b", "c"}, keys
            assert keys == sorted(k for k in ("a", "b", "c") if k.encode() > raw), (raw, keys)
    finally:
        for k in ("a", "b", "c"):
            call(d, "DELETE", "/v1/memory/mine/" + k, d.B)


def test_memory_keys_exhaustion_exact(d):
    """bob's key quota (memory_keys: 500 in the keys file), filled by 8
    writers at once: exactly 500 keys land, every 204 is readable, every
    other answer is 413 quota_exceeded, and deleting frees it all."""
    ok, full = [], []

    def w(i):
        r = requests.put(d.url + "/v1/memory/ex/k%04d" % i, data=b"%d" % i, headers=d.B,
                         timeout=T)
        (ok if r.status_code == 204 else full).append((i, r))

    with cf.ThreadPoolExecutor(8) as ex:
        list(ex.map(w, range(BOB_KEYS + 60)))
    try:
        used = call(d, "GET", "/v1/memory", d.B).json()["usage"]["keys"]
        assert len(ok) + (used - len(ok)) == used
        assert len(ok) <= BOB_KEYS and used == BOB_KEYS, (len(ok), used)
        for i, r in full:
            assert_error(r, 413, "quota_exceeded")
        for i, _ in ok[:: 25]:
            assert call(d, "GET", "/v1/memory/ex/k%04d" % i, d.B).content == b"%d" % i
        listed, cur = [], ""
        while True:
            r = call(d, "GET", "/v1/memory/ex", d.B, params={"limit": 1000, "cursor": cur})
            doc = r.json()
            listed += doc["keys"]
            if doc["listComplete"]:
                break
            cur = doc["nextCursor"]
        assert len(listed) == len(ok) and listed == sorted(listed)
    finally:
        def rm(i):
            requests.delete(d.url + "/v1/memory/ex/k%04d" % i, headers=d.B, timeout=T)
        with cf.ThreadPoolExecutor(8) as ex:
            list(ex.map(rm, [i for i, _ in ok]))
    assert call(d, "GET", "/v1/memory", d.B).json()["usage"]["keys"] == used - len(ok)


# --------------------------------------------------------------------------
# the file API: hard links, a download raced by writers, the workspace
# itself, a volume full of symlinks, query tricks


@pytest.fixture
def sess(d):
    s = sc.new_session(d.url, d.A)
    yield s
    assert s.delete().status_code == 204


def test_hard_links(d, sess):
    out = sess.run("""
import errno, os
open('inside', 'w').write('mine')
for src in ('/etc/passwd', '/tmp/x', '/proc/self/environ'):
    if src == '/tmp/x':
        open(src, 'w').write('t')
    try:
        os.link(src, os.path.basename(src) + '.lnk'); print(src, 'LINKED')
    except OSError as e:
        print(src, errno.errorcode[e.errno])
os.link('inside', 'twin')
""")
    lines = out["run"]["stdout"].split("\n")
    assert lines[:3] == ["/etc/passwd EXDEV", "/tmp/x EXDEV", "/proc/self/environ EXDEV"], out
    # a link inside the workspace is an ordinary file; deleting one name
    # keeps the other; a PUT over one replaces it (never writes through)
    assert sess.get("twin").content == b"mine"
    assert sess.put("twin", b"replaced").status_code == 200
    assert sess.get("inside").content == b"mine"
    assert sess.rm("inside").status_code == 204
    assert sess.get("twin").content == b"replaced"


def test_download_is_not_raced_by_writers(d, sess):
    """While a download streams, the session is busy: a step or an upload
    that would rename or rewrite the file gets 409 session_busy, and the
    bytes downloaded are exactly the file's."""
    data = bytes(range(256)) * 4096 * 48  # 48 MiB, written by a step
    out = sess.run("open('big.bin', 'wb').write(bytes(range(256)) * 4096 * 48)")
    assert out["run"]["exitCode"] == 0, out
    r = sess.get("big.bin", stream=True)
    assert r.status_code == 200
    it = r.iter_content(1 << 20)
    got = [next(it)]
    try:
        assert_error(sess.exec("import os; os.rename('big.bin', 'gone')"), 409, "session_busy")
        assert_error(sess.put("big.bin", b"swap"), 409, "session_busy")
        assert_error(sess.rm("big.bin"), 409, "session_busy")
        for c in it:
            got.append(c)
    finally:
        r.close()
    assert hashlib.sha256(b"".join(got)).digest() == hashlib.sha256(data).digest()


def test_workspace_itself_cannot_be_replaced(d, sess):
    out = sess.run("""
import errno, os
os.chdir('/')
def t(name, fn):
    try:
        fn(); print(name, 'DONE')
    except OSError as e:
        print(name, errno.errorcode[e.errno])
t('rmdir', lambda: os.rmdir('/workspace'))
t('rename', lambda: os.rename('/workspace', '/tmp/ws'))
t('symlink', lambda: os.symlink('/etc', '/workspace'))
t('umount', lambda: __import__('ctypes').CDLL(None).umount2(b'/workspace', 2) == 0 or (_ for _ in ()).throw(OSError(__import__('ctypes').get_errno() or errno.EPERM, 'x')))
""")
    got = dict(line.split() for line in out["run"]["stdout"].splitlines())
    assert got["rmdir"] in ("EBUSY", "EACCES", "EPERM"), got
    assert got["rename"] in ("EBUSY", "EACCES", "EPERM", "EXDEV"), got
    assert got["symlink"] == "EEXIST", got
    assert got["umount"] in ("EPERM", "EINVAL"), got
    r = sess.get("")
    assert r.status_code == 200 and r.json()["dir"] is True
    assert sess.put("still.txt", b"ok").status_code == 200
    assert sess.run("print(open('/workspace/still.txt').read())")["run"]["stdout"] == "ok\n"


def test_volume_full_of_symlinks(d):
    v = vcreate(d, d.A)
    u = d.url + "/v1/volumes/%s/fs" % v["id"]
    try:
        s = sc.new_session(d.url, d.A, volumes=[{"id": v["id"], "mountPath": "/data",
                                                 "mode": "rw"}])
        try:
            out = s.run("""
import os
targets = ['/etc/shadow', '/proc/1/root', '/', '../../../../etc', '/dev/sda', 'loop0']
for i in range(2000):
    os.symlink(targets[i % len(targets)], '/data/l%04d' % i)
os.symlink('loop1', '/data/loop0'); os.symlink('loop0', '/data/loop1')
print(len(os.listdir('/data')))
""", limits={"wallTimeMs": 30000})
            assert out["run"]["stdout"] == "2002\n", out
        finally:
            assert s.delete().status_code == 204
        r = requests.get(u, params={"path": ""}, headers=d.A, timeout=T)
        assert r.status_code == 200
        ents = r.json()["entries"]
        assert len(ents) == 2002 and {e["type"] for e in ents} == {"symlink"}
        for p in ("l0000", "l0001", "l0002", "l0003/x", "l0004", "loop0", "loop1/a"):
            r = requests.get(u, params={"path": p}, headers=d.A, timeout=T)
            assert_error(r, 400, "symlink")
            assert b"root:" not in r.content
        # a copy keeps them links, and is just as inert
        c = vcreate(d, d.A, **{"from": v["id"]})
        r = requests.get(d.url + "/v1/volumes/%s/fs" % c["id"], params={"path": "l0000"},
                         headers=d.A, timeout=T)
        assert_error(r, 400, "symlink")
        vdelete(d, d.A, c["id"])
    finally:
        vdelete(d, d.A, v["id"])


@pytest.mark.parametrize("query,status,code", [
    ("path=a&path=../../etc/passwd", 404, "not_found"),  # the first one counts
    ("path=..%2f..%2fetc%2fpasswd", 400, "invalid_path"),
    ("path=a%5c..%5c..%5cetc", 404, "not_found"),
    ("path=secret.txt&pathHex=2e2e", 400, "invalid_path"),
    ("pathHex=2f6574632f706173737764", 400, "invalid_path"),
    ("path=%2e", 400, "invalid_path"),
], ids=["twice", "encoded-dotdot", "backslashes", "path-and-hex", "hex-absolute", "dot"])
def test_query_tricks(d, alice, query, status, code):
    s = alice["s"]
    r = requests.get(s.url("/fs") + "?" + query, headers=s.h(**d.A), timeout=T)
    assert_error(r, status, code)
    assert b"root:" not in r.content


# --------------------------------------------------------------------------
# volumes: races, read-only, snapshots being written


def test_attach_rw_races_delete(d):
    """A rw attach racing the volume's delete: either the delete wins (204,
    the attach 404) or the attach does (201, the delete 409 volume_busy),
    never both, ten times over."""
    for _ in range(10):
        v = vcreate(d, d.A)
        res = {}

        def attach():
            res["a"] = sc.create(d.url, {"runtime": "python", "volumes": [
                {"id": v["id"], "mountPath": "/data", "mode": "rw"}]}, d.A)

        def kill():
            res["d"] = requests.delete(d.url + "/v1/volumes/" + v["id"], headers=d.A,
                                       timeout=T)

        ts = [threading.Thread(target=attach), threading.Thread(target=kill)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        a, dl = res["a"], res["d"]
        if a.status_code == 201:
            assert_error(dl, 409, "volume_busy")
            s = sc.Session(d.url, a.json(), d.A)
            assert s.delete().status_code == 204
            vdelete(d, d.A, v["id"])
        else:
            assert_error(a, 404, "volume_not_found")
            assert dl.status_code == 204
        assert_error(call(d, "GET", "/v1/volumes/" + v["id"], d.A), 404, "volume_not_found")


def test_read_only_mount_refuses_every_write(d):
    v = vcreate(d, d.A)
    try:
        assert requests.put(d.url + "/v1/volumes/%s/fs" % v["id"], params={"path": "f"},
                            data=b"orig", headers=d.A, timeout=T).status_code == 200
        s = sc.new_session(d.url, d.A, volumes=[{"id": v["id"], "mountPath": "/mnt/ro",
                                                 "mode": "ro"}])
        try:
            out = s.run("""
import errno, os
def t(name, fn):
    try:
        fn(); print(name, 'DONE')
    except OSError as e:
        print(name, errno.errorcode[e.errno])
t('write', lambda: open('/mnt/ro/f', 'w'))
t('append', lambda: open('/mnt/ro/f', 'a'))
t('create', lambda: open('/mnt/ro/new', 'x'))
t('unlink', lambda: os.unlink('/mnt/ro/f'))
t('rename', lambda: os.rename('/mnt/ro/f', '/mnt/ro/g'))
t('mkdir', lambda: os.mkdir('/mnt/ro/d'))
t('chmod', lambda: os.chmod('/mnt/ro/f', 0o777))
t('truncate', lambda: os.truncate('/mnt/ro/f', 0))
t('utime', lambda: os.utime('/mnt/ro/f', (0, 0)))
t('symlink', lambda: os.symlink('/etc', '/mnt/ro/l'))
t('link', lambda: os.link('/mnt/ro/f', '/mnt/ro/h'))
t('mknod', lambda: os.mkfifo('/mnt/ro/p'))
t('setxattr', lambda: os.setxattr('/mnt/ro/f', 'user.x', b'1'))
""")
            got = dict(line.split() for line in out["run"]["stdout"].splitlines())
            assert len(got) == 13
            assert {k for k, e in got.items() if e != "EROFS"} <= {"setxattr"}, got
            assert got["setxattr"] in ("EROFS", "EOPNOTSUPP", "ENOTSUP"), got
        finally:
            assert s.delete().status_code == 204
        r = requests.get(d.url + "/v1/volumes/%s/fs" % v["id"], params={"path": "f"},
                         headers=d.A, timeout=T)
        assert r.content == b"orig"
        assert [e["name"] for e in requests.get(
            d.url + "/v1/volumes/%s/fs" % v["id"], headers=d.A,
            timeout=T).json()["entries"]] == ["f"]
    finally:
        vdelete(d, d.A, v["id"])


def test_snapshot_of_a_volume_being_written(d):
    """Copies taken while a holder's step writes files (each written then
    renamed into place) hold only whole files: every file present in a
    copy has the content its name says."""
    v = vcreate(d, d.A, sizeBytes=64 * MiB)
    s = sc.new_session(d.url, d.A, volumes=[{"id": v["id"], "mountPath": "/data",
                                             "mode": "rw"}])
    copies = []
    try:
        s.run("print(1)")
        res = {}

        def writer():
            res["w"] = s.exec("""
import os, time
end = time.time() + 4
i = 0
while time.time() < end:
    p = '/data/f%05d' % i
    with open(p + '.tmp', 'wb') as f:
        f.write((b'%05d' % i) * 2000); f.flush(); os.fsync(f.fileno())
    os.rename(p + '.tmp', p)
    i += 1
print(i)
""", limits={"wallTimeMs": 20000})

        t = threading.Thread(target=writer)
        t.start()
        time.sleep(0.8)
        for _ in range(4):
            r = requests.post(d.url + "/v1/volumes", json={"name": "c-" + uuid.uuid4().hex[:8],
                                                          "from": v["id"]},
                              headers=d.A, timeout=T)
            assert r.status_code == 201, r.text
            copies.append(r.json()["id"])
            time.sleep(0.6)
        t.join(60)
        assert res["w"].status_code == 200, res["w"].text
        n = int(res["w"].json()["run"]["stdout"])
        assert n > 10
        for cid in copies:
            u = d.url + "/v1/volumes/%s/fs" % cid
            ents = requests.get(u, headers=d.A, timeout=T).json()["entries"]
            for e in ents:
                name = e["name"]
                if name.endswith(".tmp"):
                    continue  # a temporary the writer had not renamed yet
                assert e["size"] == 10000, e
            for e in [e for e in ents if not e["name"].endswith(".tmp")][-3:]:
                body = requests.get(u, params={"path": e["name"]}, headers=d.A,
                                    timeout=T).content
                assert body == e["name"][1:].encode() * 2000, e["name"]
    finally:
        assert s.delete().status_code == 204
        for cid in copies:
            vdelete(d, d.A, cid)
        vdelete(d, d.A, v["id"])


# --------------------------------------------------------------------------
# exhaustion


def test_session_exhaustion_is_per_tenant(d, alice):
    """alice fills her session count (2 are held by the module fixture):
    429 too_many_sessions with Retry-After, while bob still creates his."""
    made = []
    try:
        while len(made) < MAX_SESSIONS - 2:
            made.append(sc.new_session(d.url, d.A))
        for _ in range(20):
            r = sc.create(d.url, {"runtime": "python"}, d.A)
            assert_error(r, 429, "too_many_sessions")
            assert r.headers["Retry-After"] == "5"
        b = sc.new_session(d.url, d.B)
        assert b.delete().status_code == 204
    finally:
        for s in made:
            assert s.delete().status_code == 204
    t = sc.new_session(d.url, d.A)
    assert t.delete().status_code == 204


def test_volume_exhaustion_and_cleanup(d, alice):
    """alice makes volumes until the cap (one is the fixture's), the next is
    429 too_many_volumes; all deleted, no subvolume of them is left."""
    made = []
    try:
        with cf.ThreadPoolExecutor(4) as ex:
            rs = list(ex.map(lambda i: requests.post(
                d.url + "/v1/volumes", json={"name": "many-%03d" % i, "sizeBytes": MiB},
                headers=d.A, timeout=T), range(MAX_VOLUMES + 5)))
        made = [r.json()["id"] for r in rs if r.status_code == 201]
        assert len(made) == MAX_VOLUMES - 1, [r.status_code for r in rs]
        for r in rs:
            if r.status_code != 201:
                assert_error(r, 429, "too_many_volumes")
    finally:
        with cf.ThreadPoolExecutor(4) as ex:
            list(ex.map(lambda vid: vdelete(d, d.A, vid), made))
    left = set(os.listdir(os.path.join(d.store, "volumes")))
    assert not left & set(made), left & set(made)


def test_thousand_uploads(d, sess):
    """1000 small uploads from 8 clients: each is 200 or 409 session_busy
    (one file call at a time), retried until done; the listing then holds
    exactly 1000 files with the right bytes."""
    def up(i):
        while True:
            r = sess.put("many/f%04d" % i, b"%d" % i)
            if r.status_code != 409:
                return r
            assert r.json()["error"] == "session_busy"
            time.sleep(0.01)

    with cf.ThreadPoolExecutor(8) as ex:
        rs = list(ex.map(up, range(1000)))
    assert all(r.status_code == 200 for r in rs), [r.text for r in rs if r.status_code != 200][:3]
    ls = sess.ls("many")
    assert len(ls) == 1000 and all(ls["f%04d" % i]["size"] == len(b"%d" % i) for i in range(1000))
    assert sess.get("many/f0777").content == b"777"
    assert sess.rm("many").status_code == 204


def test_slow_upload_holds_only_its_session(d, sess, alice):
    """A client that trickles an upload holds its own session (409 busy)
    and nothing else; when it gives up, no file is left."""
    host, port = d.url.split("//")[1].split(":")
    sk = socket.create_connection((host, int(port)), timeout=30)
    req = ("PUT /v1/sessions/%s/fs?path=slow.bin HTTP/1.1\r\nHost: x\r\n"
           "X-API-Key: %s\r\nX-Session-Token: %s\r\nContent-Length: 1000000\r\n\r\n"
           % (sess.id, d.keys["alice"], sess.token))
    sk.sendall(req.encode())
    try:
        for _ in range(10):
            sk.sendall(b"x" * 100)
            time.sleep(0.2)
        # others are served meanwhile
        assert alice["s"].get("secret.txt").content == b"alice's file"
        assert call(d, "GET", "/v1/memory/ns/secret", d.A).status_code == 200
    finally:
        sk.close()
    deadline = time.monotonic() + 30
    while True:
        r = sess.get("")
        if r.status_code != 409 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert r.status_code == 200, r.text
    names = [e["name"] for e in r.json()["entries"]]
    assert names == [], names


def test_many_idle_kernels(d):
    """bob's full count of kernel sessions, each with state, left idle: they
    all keep their variables and a plain session still runs beside them."""
    ks = []
    try:
        for i in range(MAX_SESSIONS - 1):
            ks.append(sc.new_session(d.url, d.B, type="kernel"))
        for i, k in enumerate(ks):
            out = k.run("v = %d * 7" % i)
            assert out["kernel"]["error"] is None, out
        time.sleep(2)
        for i, k in enumerate(ks):
            out = k.run("v")
            assert out["kernel"]["results"][0]["data"]["text/plain"] == str(i * 7), out
        s = sc.new_session(d.url, d.B)
        try:
            assert s.run("print(6*7)")["run"]["stdout"] == "42\n"
        finally:
            assert s.delete().status_code == 204
    finally:
        for k in ks:
            assert k.delete().status_code == 204


# --------------------------------------------------------------------------
# the kernel channel


def test_kernel_step_cannot_kill_its_runner(d, alice):
    """A step that signals the process driving it, or every process it can:
    refused (EPERM, ESRCH), the interpreter and its variables live on."""
    k = alice["k"]
    k.run("secret = 41")
    out = k.run("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)")
    assert out["kernel"]["error"]["name"] == "PermissionError", out["kernel"]
    assert out["kernel"]["restarted"] is False
    out = k.run("import os, signal\nos.kill(-1, signal.SIGKILL)")
    assert out["kernel"]["error"]["name"] == "ProcessLookupError", out["kernel"]
    out = k.run("secret + 1")
    assert out["kernel"]["results"][0]["data"]["text/plain"] == "42", out
    assert out["kernel"]["restarted"] is False


def test_kernel_killing_itself_is_a_restart(d, alice):
    """The interpreter SIGKILLs itself mid-step: the answer says restarted,
    never a forged or stale result, and the next step is a fresh one."""
    k = alice["k"]
    k.run("secret = 41")
    out = k.run("import os, signal\nprint('bye', flush=True)\nos.kill(os.getpid(), signal.SIGKILL)")
    assert out["kernel"]["restarted"] is True, out
    out = k.run("'secret' in globals()")
    assert out["kernel"]["results"][0]["data"]["text/plain"] == "False", out
    assert out["kernel"]["executionCount"] == 1, out
