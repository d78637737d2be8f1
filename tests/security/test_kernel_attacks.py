"""test_kernel_attacks.py - user code in a kernel session against the kernel
channel (docs/THREAT_MODEL.md, "Kernel channel"): fake result frames written
to every fd 0..1023 and through /proc/self/fd, closing and dup'ing every fd,
replacing sys.stdout, printing protocol-looking bytes, forked children and
threads that keep writing after the step ends.

Each attack asserts the exact outcome: the step is not ended early (what the
cell does after the attack still happens), its verdict is the guest's
(exitCode, timedOut, restarted), nothing of it reaches the next step's
answer, and the kernel stays in sync (the next step's value is right).
Target: $ISOBOX_URL.
"""
import os
import sys

import pytest

from conftest import BASE_URL

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e",
                                "helpers"))
import session_client as sc  # noqa: E402

# Frames as the runner writes them (nonce | kind | u32 length | payload),
# with guessed nonces, and the guest's own wire records (DONE, RESULT).
FAKES = r'''
import os, struct
fakes = []
for nonce in (b"\0" * 16, b"\xff" * 16, os.urandom(16)):
    fakes.append(nonce + b"D" + struct.pack(">I", 1) + b"0")
    body = b'{"data": {"text/plain": "FORGED"}, "metadata": {}}'
    fakes.append(nonce + b"m" + struct.pack(">I", len(body)) + body)
fakes.append(b"d\0\0\0\x04\0\0\0\0")
fakes.append(b"x\0\0\0\x0d\0\0\0\0rexit=0\0")
fakes.append(b"\0\0\0\x05" + b"\0" * 16)
junk = b"".join(fakes)
'''


@pytest.fixture
def k():
    with sc.sessions(BASE_URL, runtime="python", type="kernel") as s:
        yield s


def value(out):
    mains = [r for r in out["kernel"]["results"] if r["isMainResult"]]
    return mains[0]["data"]["text/plain"] if mains else None


def in_sync(s, marker="ok"):
    """The next step: the right value, no leftovers, no strays."""
    out = s.run("import os\nprocs = [p for p in os.listdir('/proc') if p.isdigit() "
                "and int(p) not in (1, os.getpid())]\n(%r, procs)" % marker)
    assert out["run"]["exitCode"] == 0, out
    assert out["run"]["stdout"] == "" and out["run"]["stderr"] == "", out["run"]
    assert value(out) == "(%r, [])" % marker, out["kernel"]
    assert not any("FORGED" in str(r) for r in out["kernel"]["results"])
    return out


def test_fake_frames_to_every_fd(k):
    out = k.run(FAKES + r'''
import time
hit = 0
for fd in range(1024):
    try:
        os.write(fd, junk)
        hit += 1
    except OSError:
        pass
for name in os.listdir("/proc/self/fd"):
    try:
        with open("/proc/self/fd/" + name, "wb", buffering=0) as f:
            f.write(junk)
    except OSError:
        pass
time.sleep(0.5)
print("after the attack")
hit >= 3
''')
    assert out["run"]["exitCode"] == 0, out["run"]
    assert "after the attack\n" in out["run"]["stdout"], "the step ended early"
    assert out["run"]["timedOut"] is False
    assert value(out) == "True"
    assert not any("FORGED" in str(r) for r in out["kernel"]["results"]), out["kernel"]
    assert not out["kernel"]["restarted"]
    in_sync(k)


def test_fake_done_does_not_change_the_verdict(k):
    out = k.run(FAKES + r'''
for fd in range(1024):
    try:
        os.write(fd, junk)
    except OSError:
        pass
1 / 0
''')
    assert out["run"]["exitCode"] == 1
    assert out["kernel"]["error"]["name"] == "ZeroDivisionError"
    in_sync(k)


def test_fake_frames_cannot_outlast_timeout(k):
    out = k.run(FAKES + r'''
import time
for fd in range(1024):
    try:
        os.write(fd, junk)
    except OSError:
        pass
time.sleep(100)
''', limits={"wallTimeMs": 1500})
    assert out["run"]["timedOut"] is True and out["kernel"]["interrupted"] is True
    assert out["run"]["durationMs"] >= 1400, "ended before the wall time"
    in_sync(k)


def test_closing_every_fd(k):
    out = k.run(r'''
import os
os.closerange(0, 1024)
import time
time.sleep(0.3)
''', limits={"wallTimeMs": 5000})
    # The interpreter lost its channel: it cannot report and dies at the
    # end of the cell (it cannot read the next step). The guest says so: a
    # crashed interpreter's exit code and a restart; the cell ran to its end.
    assert out["run"]["durationMs"] >= 300, "ended before the cell did"
    assert out["run"]["exitCode"] != 0 and out["run"]["timedOut"] is False
    assert out["kernel"]["restarted"] is True
    assert out["kernel"]["results"] == []
    in_sync(k)


def test_dup_stdout_over_every_fd(k):
    out = k.run(r'''
import os
for fd in range(3, 1024):
    try:
        os.dup2(1, fd)
    except OSError:
        pass
'sent'
''', limits={"wallTimeMs": 5000})
    # Its frames went to its own stdout, where they are just bytes: no
    # result, no done reached the guest, and the interpreter, unable to
    # read its next step, died: reported as a crash and a restart.
    assert out["kernel"]["results"] == [], out["kernel"]
    assert out["run"]["exitCode"] != 0 and out["kernel"]["restarted"] is True
    in_sync(k)


def test_replacing_sys_stdout(k):
    out = k.run("import sys, io\nsys.stdout = io.StringIO()\nsys.stderr = io.StringIO()\n"
                "print('hidden')\n7")
    assert out["run"]["stdout"] == "" and value(out) == "7"
    out = k.run("print('visible again')\n8")
    assert out["run"]["stdout"] == "visible again\n" and value(out) == "8"
    in_sync(k)


def test_protocol_looking_output(k):
    out = k.run(FAKES + r'''
import sys
sys.stdout.buffer.write(junk)
sys.stdout.flush()
print("\nd\0\0\0\1x done isobox-guest 2 SYNCED")
print("tail")
5
''')
    assert out["run"]["exitCode"] == 0
    assert out["run"]["stdout"].endswith("SYNCED\ntail\n"), out["run"]["stdout"][-80:]
    assert value(out) == "5"
    in_sync(k)


def test_forked_children_writing_after_the_step(k):
    out = k.run(FAKES + r'''
import os, time
for i in range(3):
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            while True:
                for fd in range(1024):
                    try:
                        os.write(fd, b"CHILD " + junk)
                    except OSError:
                        pass
                time.sleep(0.01)
        os._exit(0)
time.sleep(0.2)
'parent done'
''')
    assert value(out) == "'parent done'"
    assert out["run"]["timedOut"] is False
    assert out["run"]["durationMs"] < 3000
    nxt = in_sync(k, "after children")
    assert "CHILD" not in nxt["run"]["stdout"]


def test_thread_writing_forever(k):
    out = k.run(r'''
import threading, time, sys, os
def spam():
    while True:
        print("THREAD")
        os.write(2, b"THREAD2\n")
        time.sleep(0.005)
threading.Thread(target=spam, daemon=True).start()
time.sleep(0.2)
'main done'
''')
    assert value(out) == "'main done'"
    assert "THREAD" in out["run"]["stdout"]
    for i in range(3):
        nxt = in_sync(k, "quiet %d" % i)
        assert "THREAD" not in nxt["run"]["stdout"] + nxt["run"]["stderr"]
