"""The mixed soak over the stateful routes (bench/soak_state.py) at a
bounded CI size: /execute, sessions (steps, uploads, downloads), kernels,
/v1/memory and volumes, 8 at a time, against a private deployment with a
btrfs store of its own. Then no container, session, volume, memory row,
subvolume or qgroup may be left, every operation must have succeeded, and
each isobox.fcgi's RSS and fd count must stay flat after the warm-up.

Full size (>= 2000 operations, one command):

    bench/soak_state.py --count 2000 --concurrency 8

Environment: ISOBOX_SOAK_STATE_COUNT (default 160).
"""
import json
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e",
                                "helpers"))
import session_client as sc  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SOAK = os.path.join(REPO, "bench", "soak_state.py")
COUNT = int(os.environ.get("ISOBOX_SOAK_STATE_COUNT", "160"))
BOUND_S = 420


@pytest.mark.slow
@pytest.mark.skipif(not sc.have_btrfs(), reason="needs root and btrfs-progs")
def test_soak_state(tmp_path):
    out = tmp_path / "summary.json"
    p = subprocess.run([sys.executable, SOAK, "--count", str(COUNT), "--concurrency", "8",
                        "--json", str(out)], capture_output=True, text=True, timeout=BOUND_S)
    print(p.stdout[-6000:])
    assert p.returncode in (0, 1), "soak_state.py could not run (exit %d):\n%s\n%s" % (
        p.returncode, p.stdout[-3000:], p.stderr[-3000:])
    summary = json.loads(out.read_text())
    assert sum(k["n"] for k in summary["kinds"].values()) == COUNT
    assert set(summary["kinds"]) == {"execute", "session", "kernel", "memory", "volume"}
    assert summary["processes"], "no isobox.fcgi was sampled"
    assert not summary["violations"], "\n".join(summary["violations"][:30])
