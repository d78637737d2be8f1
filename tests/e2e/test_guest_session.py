"""test_guest_session.py - the guest's session mode (protocol 2) in real gVisor
containers: several jobs with ids in one sandbox, SYNC after garbage and
partial records, INTERRUPT, leftovers of a job killed before the next,
file put/get/list/delete (5 MiB in pieces, ranges), symlink and FIFO
attacks refused, and a driver (`isoboxctl session`) killed with SIGKILL in
the middle of an upload whose successor takes over with padding and SYNC.

The checks themselves live in tests/guest_job.py (they speak the framing by
hand over `docker run -i`); the takeover test drives a detached container
through the Docker Engine API attach, the way the service will.

Environment: ISOBOX_GUEST (the guest binary; default the installed one),
ISOBOX_CTL (isoboxctl; default the installed one), ISOBOX_TEST_IMAGE (an
image with sh and coreutils; default isobox/bash:latest), ISOBOX_RUNTIME
(runsc-isobox). Containers are labelled isobox.test=guest and removed.
"""
import os
import signal
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                ".."))
import guest_job  # noqa: E402

GUEST = os.environ.get("ISOBOX_GUEST") or \
    "/usr/local/libexec/isobox/isobox-guest"
CTL = os.environ.get("ISOBOX_CTL") or "/usr/local/bin/isoboxctl"
IMAGE = os.environ.get("ISOBOX_TEST_IMAGE", "isobox/bash:latest")
RUNTIME = os.environ.get("ISOBOX_RUNTIME", "runsc-isobox")

guest_job.DOCKER_RUN[guest_job.DOCKER_RUN.index(
    "--runtime=runsc-isobox")] = "--runtime=" + RUNTIME


def _guest_speaks_v2():
    """The configured guest must be this protocol's: an older installed one
    would fail every check for a reason unrelated to the code under test."""
    try:
        s, _, _, _ = guest_job.docker_run(
            guest_job.encode_job(run_argv=["true"]), GUEST, IMAGE)
    except (OSError, subprocess.SubprocessError):
        return False
    return s["ready"] == guest_job.VERSION


_UNAVAILABLE = guest_job.unavailable(GUEST, IMAGE)
pytestmark = pytest.mark.skipif(_UNAVAILABLE is not None, reason=_UNAVAILABLE or "")


@pytest.fixture(scope="module")
def guest():
    if not _guest_speaks_v2():
        pytest.fail("%s does not speak %s" % (GUEST, guest_job.VERSION))
    return GUEST


@pytest.mark.parametrize("check", guest_job.SESSION_CHECKS,
                         ids=[c.__name__[2:] for c in
                              guest_job.SESSION_CHECKS])
def test_session(guest, check):
    check(guest, IMAGE)


# ---- takeover through the Engine API (isoboxctl session) -----------------


@pytest.fixture
def detached(guest):
    """A running session guest, OpenStdin with StdinOnce=false (docker run
    -d -i), that no client holds."""
    name = "isobox-guest-takeover-%d" % os.getpid()
    cmd = list(guest_job.DOCKER_RUN)
    cmd.remove("--rm")
    cmd.remove("-i")
    cmd = cmd[:2] + ["-d", "-i", "--name", name, "--label",
                     "isobox.test=guest"] + cmd[2:]
    cmd += ["-v", "%s:/.isobox/guest:ro" % os.path.abspath(guest), IMAGE,
            "/.isobox/guest", "--session"]
    subprocess.run(["docker", "rm", "-f", name], capture_output=True)
    subprocess.run(cmd, check=True, capture_output=True)
    yield name
    subprocess.run(["docker", "rm", "-f", name], capture_output=True)


def ctl(*args, **kw):
    if not os.access(CTL, os.X_OK):
        pytest.fail("no isoboxctl at %s (set ISOBOX_CTL)" % CTL)
    return subprocess.run([CTL, "session"] + list(args),
                          capture_output=True, timeout=60, **kw)


def test_ctl_round_trip(detached):
    r = ctl(detached, "run", "--", "sh", "-c", "echo hi; echo oops >&2;"
            " exit 3")
    assert r.returncode == 3, r
    assert r.stdout == b"hi\n" and r.stderr == b"oops\n", r
    data = os.urandom(300000)
    r = ctl(detached, "put", "dir/x.bin", input=data)
    assert r.returncode == 0, r
    r = ctl(detached, "get", "dir/x.bin", "1000", "5000")
    assert r.returncode == 0 and r.stdout == data[1000:6000], r.stderr
    r = ctl(detached, "ls", "dir")
    assert r.stdout.split(b" ")[0] == b"f" and r.stdout.endswith(
        b" x.bin\n") and b" 300000 " in r.stdout, r
    assert ctl(detached, "rm", "dir").returncode == 0
    r = ctl(detached, "get", "dir/x.bin")
    assert r.returncode == 1 and b"not_found" in r.stderr, r


def test_killed_driver_is_taken_over(detached):
    """A driver killed with SIGKILL mid-upload leaves no file; the next one
    pads, synchronises and works, and the guest never restarted."""
    p = subprocess.Popen([CTL, "session", detached, "put", "half.bin"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        # Pieces that are not multiples of a record: the driver forwards
        # whatever each read gives, so it dies between or inside records.
        for _ in range(40):
            p.stdin.write(os.urandom(50000))
            p.stdin.flush()
        time.sleep(0.5)
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    assert p.returncode == -signal.SIGKILL
    r = ctl("--pad", detached, "run", "--", "sh", "-c",
            "ls -a; echo /proc/[0-9]*")
    assert r.returncode == 0, r
    out = r.stdout.decode()
    assert "half.bin" not in out and ".isobox-up" not in out, out
    # Nothing but the guest and this job's shell runs.
    procs = out.strip().splitlines()[-1].split()
    assert len(procs) == 2 and procs[0] == "/proc/1", out
    data = os.urandom(5 * 1024 * 1024)
    r = ctl(detached, "put", "whole.bin", input=data)
    assert r.returncode == 0, r
    r = ctl(detached, "get", "whole.bin")
    assert r.stdout == data, (len(r.stdout), r.stderr)
    # The abandoned upload's temporary file went with the SYNC.
    r = ctl(detached, "ls")
    assert [ln.split()[-1] for ln in r.stdout.splitlines()] == \
        [b"whole.bin"], r.stdout
    state = subprocess.run(["docker", "inspect", "-f",
                            "{{.State.Running}} {{.RestartCount}}",
                            detached], capture_output=True, text=True)
    assert state.stdout.split() == ["true", "0"], state


def test_interrupt_from_a_second_driver(detached):
    """One driver's job keeps running when that driver dies; a second
    driver's job waits for it (one step at a time) and gets only its own
    output, not the stale job's."""
    p = subprocess.Popen([CTL, "session", detached, "run", "--wall",
                          "4000", "--", "sh", "-c",
                          "while :; do echo stale; sleep 0.05; done"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(1.0)
    p.send_signal(signal.SIGKILL)
    p.wait()
    t = time.monotonic()
    r = ctl("--pad", detached, "run", "--", "echo", "mine")
    assert r.returncode == 0 and r.stdout == b"mine\n", r
    # It waited for the stale job's wall time, not longer.
    assert time.monotonic() - t < 10
