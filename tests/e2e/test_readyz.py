"""GET /healthz, /runtimes and /readyz, including readiness turning 503 when
the isobox slice loses its memory (or pids) cap, and 200 again when restored."""
import os
import re
import time

import pytest
import requests

from conftest import SLICE, full_url, strict_json

EXPECTED_LANGS = {"python", "python-slim", "javascript", "bash"}


def get(path):
    r = requests.get(full_url(path), timeout=15)
    assert "X-Request-Id" in r.headers, dict(r.headers)
    return r


def test_healthz():
    r = get("/healthz")
    assert r.status_code == 200, r.text
    assert strict_json(r) == {"ok": True}


def test_runtimes_listing():
    r = get("/runtimes")
    assert r.status_code == 200, r.text
    assert r.headers.get("Content-Type", "").startswith("application/json")
    rts = strict_json(r)
    assert isinstance(rts, list) and rts, rts
    for rt in rts:
        assert isinstance(rt.get("language"), str) and rt["language"], rt
        assert isinstance(rt.get("version"), str) and rt["version"], rt
        assert isinstance(rt.get("aliases"), list), rt
        assert all(isinstance(a, str) and a for a in rt["aliases"]), rt
        assert isinstance(rt.get("compiled"), bool), rt
        assert rt.get("backend") == "gvisor", rt
    langs = {rt["language"] for rt in rts}
    assert EXPECTED_LANGS <= langs, f"missing {EXPECTED_LANGS - langs}"
    by = {rt["language"]: rt for rt in rts}
    for lang in EXPECTED_LANGS:
        assert by[lang]["compiled"] is False, by[lang]
    assert {"py", "python3"} <= set(by["python"]["aliases"]), by["python"]
    assert "js" in by["javascript"]["aliases"], by["javascript"]
    assert "sh" in by["bash"]["aliases"], by["bash"]
    # An alias names one language only.
    seen = {}
    for rt in rts:
        for a in rt["aliases"]:
            assert seen.setdefault(a, rt["language"]) == rt["language"], (a, seen[a], rt)


def test_readyz_ready():
    r = get("/readyz")
    assert r.status_code == 200, r.text
    body = strict_json(r)
    assert body.get("ready") is True and body.get("backend") == "gvisor", body


# ---------------------------------------------------------------- slice caps

def _cap_files(kind):
    """[(path, value meaning 'no cap')] of the slice's memory or pids cap, in
    the order they must be lifted (restore in reverse). On cgroup v1 the
    memory+swap limit must be lifted first: memory.limit_in_bytes may not
    exceed memory.memsw.limit_in_bytes."""
    if kind == "memory":
        v1 = f"/sys/fs/cgroup/memory/{SLICE}"
        v2 = f"/sys/fs/cgroup/{SLICE}/memory.max"
        if os.path.exists(f"{v1}/memory.limit_in_bytes"):
            out = []
            if os.path.exists(f"{v1}/memory.memsw.limit_in_bytes"):
                out.append((f"{v1}/memory.memsw.limit_in_bytes", "-1"))
            out.append((f"{v1}/memory.limit_in_bytes", "-1"))
            return out
        if os.path.exists(v2):
            return [(v2, "max")]
    else:
        for p in (f"/sys/fs/cgroup/pids/{SLICE}/pids.max", f"/sys/fs/cgroup/{SLICE}/pids.max"):
            if os.path.exists(p):
                return [(p, "max")]
    return []


def _poll_readyz(want_status, seconds=10.0):
    deadline = time.monotonic() + seconds
    while True:
        r = get("/readyz")
        if r.status_code == want_status or time.monotonic() >= deadline:
            return r
        time.sleep(0.25)


@pytest.mark.parametrize("kind,pattern", [("memory", r"memory|slice"),
                                          ("pids", r"pids|slice")])
def test_readyz_uncapped_slice(kind, pattern):
    files = _cap_files(kind)
    if not files:
        pytest.skip(f"no {kind} cap file for {SLICE} on this host")
    before = _poll_readyz(200, 3)
    assert before.status_code == 200, f"not ready to begin with: {before.text}"
    prev = [(path, open(path).read().strip()) for path, _ in files]
    lifted = []
    try:
        for path, uncapped in files:
            try:
                with open(path, "w") as f:
                    f.write(uncapped)
            except OSError as e:
                pytest.skip(f"cannot remove the {kind} cap ({path}): {e}")
            lifted.append(path)
        r = _poll_readyz(503)
        assert r.status_code == 503, \
            f"/readyz with the {kind} cap removed: {r.status_code} {r.text}"
        body = strict_json(r)
        assert body.get("ready") is False, body
        assert isinstance(body.get("reason"), str), body
        assert re.search(pattern, body["reason"], re.I), body
    finally:
        for path, value in reversed(prev):
            if path in lifted:
                with open(path, "w") as f:
                    f.write(value)
                assert open(path).read().strip() == value, path
    r = _poll_readyz(200)
    assert r.status_code == 200, f"/readyz after restoring the cap: {r.status_code} {r.text}"
    assert strict_json(r).get("ready") is True
