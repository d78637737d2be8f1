"""The playground's state views in a real browser: Debian's chromium driven
by playwright-core (tests/browser/state.mjs), against the live server.
Files: a session is created, files are uploaded with the picker and by drag
and drop, shown in the tree with sizes, downloaded byte for byte, run in the
session with streamed output, deleted; the TTL and the quota are shown.
Memory: a put shows the value, an edit of a changed value is refused
(If-Match) until overwriting is chosen, a binary value downloads, delete.
Notebook: with kernels disabled the server's kernel_disabled is shown; with
kernels, a matplotlib plot appears as an <img> under its cell, a traceback
once, Interrupt stops a sleeping cell keeping variables, Restart drops them;
result
rendering (image/png, sanitized HTML in a script-less frame) is also checked
with answers the test gives. Every view fits a 390 px screen and nothing is
fetched from outside the service. Screenshots go to build/.

Needs what test_playground.py needs (node >= 20, npm, chromium)."""
import os

from test_playground import BASE_URL, HERE, REPO, chromium_path, nodeenv


def test_state_views_in_chromium():
    browser = chromium_path()
    node = nodeenv.ensure(HERE, min_major=20)
    shots = os.path.join(REPO, "build")
    report = nodeenv.run_json(node, os.path.join(HERE, "state.mjs"),
                              BASE_URL, shots, browser, timeout=900)
    failed = [c for c in report["checks"] if not c["ok"]]
    assert not failed and "error" not in report, report
    names = {c["name"] for c in report["checks"]}
    for must in ("the uploaded file is in the tree",
                 "upload by drag and drop",
                 "download content equals the upload",
                 "delete removes it from the tree",
                 "TTL visible", "quota visible",
                 "step output streams before the step ends",
                 "the value shown after a put",
                 "ETag-aware overwrite refuses a stale edit",
                 "binary value downloads byte for byte",
                 "[given answers] image/png shown as an <img> under the cell",
                 "[given answers] HTML sanitized",
                 "every view fits a 390 px screen",
                 "nothing fetched from outside the service",
                 "no script errors"):
        assert must in names, must
    # Kernels: the real plot when the server has them, else its error.
    if report["kernels"] == "available":
        for must in ("a matplotlib plot appears as a picture under its cell",
                     "a traceback is shown", "Interrupt stops a cell",
                     "variables kept after an interrupt",
                     "Restart clears the variables"):
            assert must in names, must
    else:
        assert report["kernels"] in ("kernel_disabled", "kernel_unavailable")
        assert "no kernel: the server's error is shown" in names
    for path in report["screenshots"]:
        assert os.path.getsize(path) > 10000, path
