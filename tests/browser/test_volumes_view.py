"""The playground's Volumes view in a real browser: Debian's chromium driven
by playwright-core (tests/browser/volumes.mjs), against the live server. A
volume is created from the keyboard and shows in the list with its cap;
files uploaded with the picker and by drag and drop show in its tree and
download byte for byte; a copy holds the same files and changes on its
own; an upload while a session holds the volume read-write is refused in
words; volumes are deleted. It fits a 390 px screen and nothing is fetched
from outside the service. Screenshots go to build/.

Needs what test_playground.py needs (node >= 20, npm, chromium) and a
server with volumes (a btrfs store)."""
import os

from test_playground import BASE_URL, HERE, REPO, chromium_path, nodeenv


def test_volumes_view_in_chromium():
    browser = chromium_path()
    node = nodeenv.ensure(HERE, min_major=20)
    shots = os.path.join(REPO, "build")
    report = nodeenv.run_json(node, os.path.join(HERE, "volumes.mjs"),
                              BASE_URL, shots, browser, timeout=600)
    failed = [c for c in report["checks"] if not c["ok"]]
    assert not failed and "error" not in report, report
    names = {c["name"] for c in report["checks"]}
    for must in ("the Volumes tab is reached by keyboard",
                 "the created volume is in the list",
                 "the uploaded file is in its tree",
                 "the dropped file is in its folder in the tree",
                 "download content equals the upload",
                 "the copy is in the list",
                 "the copy holds the same files",
                 "a file deleted from the copy leaves its tree",
                 "the original keeps it",
                 "a write while a session holds it is refused, in words",
                 "delete volume the original",
                 "the Volumes view fits a 390 px screen",
                 "nothing fetched from outside the service",
                 "no script errors"):
        assert must in names, must
    for path in report["screenshots"]:
        assert os.path.getsize(path) > 10000, path
