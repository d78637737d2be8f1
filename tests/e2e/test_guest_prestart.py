"""test_guest_prestart.py - the guest's --prestart-run in real gVisor
containers: a run-stage bootstrap that waits beside a compiler server
(registry.h "runPrestart"; typescript's node). The compile stage is a
stand-in compiler server (sh) that leaves a process behind; the run stage
must be served by the waiting bootstrap, handed the run argv after its first
element, with the job's stdin, and with nothing of the compile stage left
alive. A failed compile, or a bootstrap that died while it waited, leaves the
run to the ordinary path.

Environment: ISOBOX_GUEST (the guest binary; default the installed one),
ISOBOX_TEST_IMAGE (an image with sh and coreutils; default
isobox/bash:latest), ISOBOX_RUNTIME (runsc-isobox).
"""
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                ".."))
import guest_job  # noqa: E402

GUEST = os.environ.get("ISOBOX_GUEST") or \
    "/usr/local/libexec/isobox/isobox-guest"
IMAGE = os.environ.get("ISOBOX_TEST_IMAGE", "isobox/bash:latest")
RUNTIME = os.environ.get("ISOBOX_RUNTIME", "runsc-isobox")
HANDOFF = ord("H")

# The stand-in compiler server: reads its argv on fd 3, leaves a sleep
# behind (the end of the stage must kill it), and with "killrunner" first
# kills the waiting run bootstrap (found by its script in its cmdline).
COMPILER = r"""
args=$(tr '\0' ' ' <&3)
exec 3<&-
echo "compile: $args"
sleep 300 &
until grep -q '^sleep' "/proc/$!/cmdline" 2>/dev/null; do :; done
case $args in
fail*) exit 2 ;;
killrunner*)
	for p in /proc/[0-9]*; do
		if grep -q 'echo "ru''n:' "$p/cmdline" 2>/dev/null; then
			kill -9 "${p#/proc/}"
		fi
	done ;;
esac
exit 0
"""
# The run bootstrap: what it was handed, how many sleeps are about (the
# cmdline of each process on a line), its stdin.
RUNNER = r"""
args=$(tr '\0' ' ' <&3)
exec 3<&-
echo "run: $args"
for p in /proc/[0-9]*; do tr '\0' ' ' <"$p/cmdline"; echo; done >/tmp/ps
grep -c '^sleep 300 $' /tmp/ps || true
cat
"""


_UNAVAILABLE = guest_job.unavailable(GUEST, IMAGE)
pytestmark = pytest.mark.skipif(_UNAVAILABLE is not None, reason=_UNAVAILABLE or "")


def _guest(job, handoff, env, guest_args, mounts=()):
    """One job (HANDOFF handoff, then GO) through a guest in a fresh
    sandbox started with --prestart-env env and guest_args. Returns its
    stages and the guest's stderr."""
    job += guest_job.record(HANDOFF, guest_job.nul_list(handoff))
    job += guest_job.record(guest_job.GO)
    cmd = list(guest_job.DOCKER_RUN)
    cmd[cmd.index("--runtime=runsc-isobox")] = "--runtime=" + RUNTIME
    cmd += ["-v", "%s:/.isobox/guest:ro" % os.path.abspath(GUEST)]
    for src, dst in mounts:
        cmd += ["-v", "%s:%s:ro" % (src, dst)]
    cmd += [IMAGE, "/.isobox/guest"]
    for e in env:
        cmd += ["--prestart-env", e]
    cmd += guest_args
    p = subprocess.run(cmd, input=job, capture_output=True, timeout=120)
    s = guest_job.summarize(p.stdout)
    assert p.returncode == 0 and len(s["jobs"]) == 1, (p.returncode, p.stderr, s)
    j = s["jobs"][0]
    assert j["done"] and j["fail"] is None, (j, p.stderr)
    return j["stages"], p.stderr.decode(errors="replace")


def _run(compile_tail):
    """One job through a guest with both bootstraps waiting: compile
    argv cc + compile_tail (the HANDOFF), run argv /bin/echo cold 'x y'."""
    job = guest_job.encode_job(compile_argv=["cc"] + compile_tail,
                               run_argv=["/bin/echo", "cold", "x y"],
                               stdin=b"in 1\nin 2\n", go=False)
    args = ["--prestart-stage", "compile"]
    for a in ("sh", "-c", RUNNER):
        args += ["--prestart-run", a]
    args += ["--prestart", "sh", "-c", COMPILER]
    return _guest(job, compile_tail, guest_job.DEFAULT_ENV, args)


def test_run_served_beside_compiler_server():
    st, err = _run(["main.c", "a b"])
    c, r = st["c"], st["r"]
    assert c["result"]["exit"] == 0 and c["result"].get("prestarted") == 1, (c, err)
    assert c["stdout"] == b"compile: main.c a b \n", c
    assert r["result"].get("prestarted") == 1 and r["result"]["exit"] == 0, (r, err)
    # Handed "cold", "x y": the run argv after /bin/echo. The compile
    # stage's sleep is gone; the job's stdin reaches the bootstrap.
    assert r["stdout"] == b"run: cold x y \n0\nin 1\nin 2\n", (r, err)


def test_failed_compile_runs_nothing():
    st, err = _run(["fail"])
    assert st["c"]["result"]["exit"] == 2, (st, err)
    assert "r" not in st, st


def test_bootstrap_gone_runs_the_ordinary_way():
    st, err = _run(["killrunner"])
    assert st["c"]["result"]["exit"] == 0, (st, err)
    r = st["r"]
    assert r["result"].get("prestarted", 0) == 0 and r["result"]["exit"] == 0, (r, err)
    assert r["stdout"] == b"cold x y\n", r


# The guest's --warm-main (prestart/main-wait.c): dash exec'd ahead of the
# job with main-wait.so preloaded waits in libc's start for the run argv.
MAIN_SH = r"""
echo "$0|$#|$1"
echo "${LD_PRELOAD-unset}"
tr '\0' ' ' </proc/$$/cmdline; echo
tr '\0' '\n' </proc/$$/environ | grep -c '^LD_PRELOAD=' || true
grep -q main-wait /proc/$$/maps && echo mapped || echo unmapped
ls /proc/$$/fd | tr '\n' ' '; echo
cat
"""


def _warm_main(env):
    job = guest_job.encode_job(files=[("main.sh", MAIN_SH.encode())], env=env,
                               run_argv=["dash", "main.sh", "a b"],
                               stdin=b"in 1\n", go=False)
    prestart = os.path.join(os.path.dirname(os.path.abspath(GUEST)), "prestart")
    st, err = _guest(job, ["main.sh", "a b"], env,
                     ["--prestart", "/.isobox/guest", "--warm-main", "dash"],
                     [(prestart, "/.isobox/prestart")])
    r = st["r"]
    assert r["result"].get("prestarted") == 1 and r["result"]["exit"] == 0, (r, err)
    return r["stdout"].decode()


def test_warm_main_waits_in_libc_start():
    """The cold argv and stdin, no LD_PRELOAD in the environment (the
    block the process started with still has it), fd 3 closed (dash's
    own script descriptor is 10)."""
    out = _warm_main(guest_job.DEFAULT_ENV)
    assert out == "main.sh|1|a b\nunset\ndash \n1\nmapped\n0 1 10 2 \nin 1\n", out


def test_warm_main_keeps_a_preload_of_the_run():
    """An LD_PRELOAD in the run's own environment stays: the guest then
    waits and execs as --warm-exec does (the cold argv in the cmdline)."""
    lib = "LD_PRELOAD=/usr/lib/isobox/libisobox-statx.so"
    out = _warm_main(list(guest_job.DEFAULT_ENV) + [lib])
    assert out == ("main.sh|1|a b\n/usr/lib/isobox/libisobox-statx.so\n"
                   "dash main.sh a b \n1\nunmapped\n0 1 10 2 \nin 1\n"), out
