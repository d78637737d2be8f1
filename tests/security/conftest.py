"""The security tests share the end-to-end helpers and fixtures: load
tests/e2e/conftest.py under its own module name and re-export everything
(fixtures included, so the module leak check applies here too).

On top of those, this file adds:
  - an autouse fixture that, after EVERY security test, checks that the
    service is still healthy: GET /healthz is 200 and a trivial run still
    gives the right answer (an attack that fails but takes the service down
    with it is not a failed attack);
  - helpers that find the sandbox of one request by its X-Request-Id (the
    `isobox.request` label), so checks stay scoped to this suite's own
    requests while other isobox instances run on the same machine.

Target: $ISOBOX_URL (default http://127.0.0.1:8090). The suite sends far
more runs than the shipped per-address rate limit allows; scripts/test runs
it with the limit lifted (build/isobox-test.yaml).
"""
import importlib.util
import json
import os
import subprocess
import sys
import time

import pytest

_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e", "conftest.py")
_spec = importlib.util.spec_from_file_location("isobox_e2e_conftest", _path)
_mod = importlib.util.module_from_spec(_spec)
sys.modules["isobox_e2e_conftest"] = _mod
_spec.loader.exec_module(_mod)

globals().update({k: v for k, v in vars(_mod).items() if not k.startswith("__")})

# Limits that keep a python run off the warm pool (the pool only serves the
# language's default memory, CPUs and tmpfs size), so its container carries
# the request's own id in its isobox.request label.
COLD = {"tmpfsBytes": 48 * _mod.MiB}


def still_serves():
    """The service answers /healthz and still runs a trivial program right."""
    _mod.healthz_ok()
    r = _mod.execute({"language": "python", "code": "print(6 * 7)"})
    assert r.status_code == 200, f"trivial run after the attack: HTTP {r.status_code}: {r.text[:500]}"
    run = _mod.strict_json(r)["run"]
    assert run["stdout"] == "42\n" and run["exitCode"] == 0, f"trivial run after the attack: {run}"


@pytest.fixture(autouse=True)
def service_stays_healthy(request):
    """After every security test: /healthz 200 and a trivial run works."""
    yield
    if request.node.get_closest_marker("no_health_check"):
        return
    still_serves()


def pytest_configure(config):
    _mod.pytest_configure(config)
    config.addinivalue_line("markers", "no_health_check: skip the after-test health check")


# --------------------------------------------------------------------------
# sandboxes of one request


def _docker_json_lines(args, timeout=30):
    r = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"docker {' '.join(args)}: {r.stderr}"
    out = []
    for line in r.stdout.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def containers_created_for(request_ids, since, until=None):
    """Full ids of the isobox containers created for the given request ids
    (by their isobox.request label) between the two Unix times."""
    if until is None:
        until = time.time()
    want = set(request_ids)
    ids = set()
    for ev in _docker_json_lines(["events", "--since", f"{since - 1:.3f}",
                                  "--until", f"{until + 0.5:.3f}",
                                  "--filter", "type=container", "--filter", "event=create",
                                  "--filter", "label=isobox.managed=1",
                                  "--format", "{{json .}}"]):
        actor = ev.get("Actor") or {}
        if (actor.get("Attributes") or {}).get("isobox.request") in want:
            ids.add(actor.get("ID") or ev.get("id"))
    return ids


def live_containers_of(request_ids):
    """[(id, labels, state)] of existing isobox containers labelled with one
    of the request ids."""
    want = set(request_ids)
    return [c for c in _mod.managed_containers() if c[1].get("isobox.request") in want]


def cgroup_dirs_of(container_ids):
    """Slice child cgroup directories that belong to the given containers."""
    out = []
    for d in _mod.slice_dirs():
        try:
            names = os.listdir(d)
        except OSError:
            continue
        for name in names:
            if any(cid in name for cid in container_ids):
                out.append(os.path.join(d, name))
    return out


def request_id(resp):
    rid = resp.headers.get("X-Request-Id")
    assert rid, dict(resp.headers)
    return rid


def run_cold(body, **kw):
    """POST /execute with limits that avoid the warm pool; returns
    (request id, parsed body) after asserting 200 and the contract's shape."""
    body = dict(body)
    lim = dict(COLD)
    lim.update(body.get("limits") or {})
    body["limits"] = lim
    r = _mod.execute(body, **kw)
    assert r.status_code == 200, f"HTTP {r.status_code}: {r.text[:2000]}"
    doc = _mod.strict_json(r)
    if doc.get("run") is not None:
        _mod.check_result(doc["run"])
    return request_id(r), doc
