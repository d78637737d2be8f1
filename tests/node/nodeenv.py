"""nodeenv.py - run the Node.js drivers of the end-to-end tests.

The npm packages they need are pinned in a package.json + package-lock.json
beside them (tests/node, tests/browser). ensure(dir) installs them with
`npm ci` when node_modules is missing or older than the lock file; a missing
node/npm or a failed install fails the test (it never skips).
"""
import json
import os
import shutil
import subprocess

import pytest

MIN_NODE_MAJOR = 18


def node_binary(min_major=MIN_NODE_MAJOR):
    node = shutil.which("node")
    if node is None:
        pytest.fail(f"node (>= {min_major}) is not installed: "
                    "apt-get install nodejs npm")
    out = subprocess.run([node, "--version"], capture_output=True, text=True,
                         timeout=30)
    try:
        major = int(out.stdout.strip().lstrip("v").split(".")[0])
    except ValueError:
        major = 0
    if major < min_major:
        pytest.fail(f"node {out.stdout.strip()} is too old: these drivers "
                    f"need >= {min_major}")
    return node


def ensure(pkg_dir, min_major=MIN_NODE_MAJOR):
    """Install pkg_dir's locked npm dependencies if needed; return node."""
    node = node_binary(min_major)
    lock = os.path.join(pkg_dir, "package-lock.json")
    stamp = os.path.join(pkg_dir, "node_modules", ".package-lock.json")
    if (not os.path.exists(stamp)
            or os.path.getmtime(stamp) < os.path.getmtime(lock)):
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("npm is not installed: apt-get install npm")
        r = subprocess.run([npm, "ci", "--no-audit", "--no-fund",
                            "--loglevel=error"], cwd=pkg_dir,
                           capture_output=True, text=True, timeout=900)
        if r.returncode != 0:
            pytest.fail(f"npm ci in {pkg_dir} failed ({r.returncode}):\n"
                        f"{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return node


def run_json(node, script, *args, timeout=600, env=None):
    """Run `node script args...`, require exit 0 and return the JSON object
    it printed last on stdout."""
    r = subprocess.run([node, script, *args], capture_output=True, text=True,
                       timeout=timeout, env=env)
    last = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""
    try:
        doc = json.loads(last) if last else None
    except ValueError:
        doc = None
    assert r.returncode == 0, (
        f"{os.path.basename(script)} exited {r.returncode}\n"
        f"stdout: {r.stdout[-4000:]}\nstderr: {r.stderr[-4000:]}")
    assert isinstance(doc, dict), f"no JSON report: {r.stdout[-2000:]!r}"
    return doc
