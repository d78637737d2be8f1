"""The soak test (bench/soak.py) at a bounded CI size.

Full size, for a release or after touching request handling, sandboxes or
cleanup (about 8 minutes on the 2-core project machine):

    bench/soak.py --count 1000 --concurrency 8

Here it runs `--count 200 --concurrency 8` (about 2 minutes, bounded to
5) against a private deployment it starts itself (tests/e2e/helpers/
isobox_deploy.py: its own lighttpd and isobox.fcgi processes with the
per-address rate limit lifted), so the rate limit of the service under test
does not turn it into 429s and its process samples are not disturbed by the
rest of the suite. A mix of normal runs, SSE streams (complete, and dropped
after the first event), plain requests dropped before the answer, timeouts,
OOM kills, fork bombs (bash and python) and output floods;
then no container, slice cgroup, run_dir or /tmp file may be left, every
response must have been well-formed, and each isobox.fcgi's RSS and fd
count may grow by less than 5 % after the warm-up.

Two known service defects are asserted apart, so that the other soak checks
keep guarding against regressions meanwhile: an OOM kill reported as a plain
SIGKILL under load (docs/THREAT_MODEL.md 8.6, test_soak_oom_kills_reported)
and a memory bomb that crashes gVisor's Sentry and is answered 503
sandbox_failed (8.6, test_soak_oom_never_crashes_the_sandbox). A fork bomb
answered 503 (8.8, fixed) fails test_soak itself.

Environment: ISOBOX_SOAK_COUNT, ISOBOX_SOAK_CONCURRENCY (defaults 200, 8),
ISOBOX_SOAK_CATALOGUE (the private deployment's catalogue; default: the
repository's registry/languages.yaml).
"""
import json
import os
import subprocess
import sys
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SOAK = os.path.join(REPO, "bench", "soak.py")
COUNT = int(os.environ.get("ISOBOX_SOAK_COUNT", "200"))
CONCURRENCY = int(os.environ.get("ISOBOX_SOAK_CONCURRENCY", "8"))
BOUND_S = 300


@pytest.fixture(scope="module")
def soak(tmp_path_factory):
    out = tmp_path_factory.mktemp("soak") / "summary.json"
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, SOAK, "--count", str(COUNT), "--concurrency",
                        str(CONCURRENCY), "--json", str(out)],
                       capture_output=True, text=True, timeout=BOUND_S + 120)
    elapsed = time.monotonic() - t0
    # the deployment's own log lines go to stderr; keep the soak's report
    print(p.stdout[-8000:])
    assert p.returncode in (0, 1), f"soak.py could not run (exit {p.returncode}):\n" \
                                   f"{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    with open(out) as f:
        summary = json.load(f)
    summary["elapsed_s"] = elapsed
    summary["report"] = p.stdout
    return summary


@pytest.mark.slow
def test_soak(soak):
    """Leaks, well-formedness and process growth of the soak (its duration
    is bounded by the subprocess timeout, not asserted: no timed asserts)."""
    assert sum(k["n"] for k in soak["kinds"].values()) == COUNT, soak["kinds"]
    first_lines = [v.split("\n")[0][:200] for v in soak["other_violations"][:30]]
    assert not soak["other_violations"], "\n".join(first_lines) + "\n\n" + soak["report"][-3000:]
    assert soak["processes"], "no isobox.fcgi process was sampled"


@pytest.mark.slow
def test_soak_oom_kills_reported(soak):
    assert not soak["oom_misreports"], "\n".join(soak["oom_misreports"])


@pytest.mark.slow
def test_soak_oom_never_crashes_the_sandbox(soak):
    assert not soak["sandbox_crashes"], "\n".join(v.split("\n")[0][:200]
                                                  for v in soak["sandbox_crashes"])
