"""clients_common.py - what the client e2e tests (tests/e2e/test_clients.py,
tests/e2e/test_clients_state.py) share: the clients on the import path
(clients/python/isobox.py, tests/node/nodeenv.py), a retry of 429 answers,
which are not under test, and the Python client and JS report fixtures."""
import os
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
NODE_DIR = os.path.join(REPO, "tests", "node")
for _p in (os.path.join(REPO, "clients", "python"), NODE_DIR):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import isobox  # noqa: E402
import nodeenv  # noqa: E402

from conftest import BASE_URL  # noqa: E402


def retry(fn, seconds=300):
    """Call fn, retrying 429 answers (rate limit, capacity, too many
    sessions) for up to seconds."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return fn()
        except isobox.RateLimited as e:
            if time.monotonic() > deadline:
                raise
            time.sleep(min(max(e.retry_after or 1, 0.2), 10))


@pytest.fixture(scope="module")
def box():
    """A Python client of the server under test."""
    return isobox.Client(BASE_URL, timeout=90)


def run_js(script, *args):
    """Run tests/node/SCRIPT against the server; its JSON report."""
    node = nodeenv.ensure(NODE_DIR)
    return nodeenv.run_json(node, os.path.join(NODE_DIR, script), BASE_URL,
                            *args)
