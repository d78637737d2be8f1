"""The playground (www/) in a real browser: Debian's chromium driven by
playwright-core (tests/browser/playground.mjs), against the live server.
Loads the page, picks python, types a program, runs it and sees the output
stream in before the run ends; sees a timeout and an out-of-memory kill
shown as such, errors as sentences, the compile panel, the URL-hash state,
the API-key field, a phone-sized layout. Screenshots go to build/.

Needs: node >= 20 and npm (the locked playwright-core is installed with
`npm ci` on first use) and chromium (apt-get install chromium) at
/usr/bin/chromium or $CHROMIUM."""
import os
import shutil
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "node"))
import nodeenv  # noqa: E402

BASE_URL = os.environ.get("ISOBOX_URL", "http://127.0.0.1:8090").rstrip("/")


def chromium_path():
    for p in (os.environ.get("CHROMIUM"), "/usr/bin/chromium",
              shutil.which("chromium"), shutil.which("chromium-browser")):
        if p and os.access(p, os.X_OK):
            return p
    pytest.fail("chromium is not installed (apt-get install chromium), "
                "or set $CHROMIUM to its path")


def test_playground_in_chromium():
    browser = chromium_path()
    node = nodeenv.ensure(HERE, min_major=20)  # playwright-core 1.65
    shots = os.path.join(REPO, "build")
    report = nodeenv.run_json(node, os.path.join(HERE, "playground.mjs"),
                              BASE_URL, shots, browser, timeout=900)
    failed = [c for c in report["checks"] if not c["ok"]]
    assert not failed and "error" not in report, report
    names = {c["name"] for c in report["checks"]}
    for must in ("output streams before the run ends", "timeout shown as such",
                 "OOM shown as such", "state restored from the URL hash",
                 "fits a phone screen", "API key sent as X-API-Key"):
        assert must in names, must
    for path in report["screenshots"]:
        assert os.path.getsize(path) > 10000, path
