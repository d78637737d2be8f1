"""Attacks through /execute on the sandbox boundary. Each test asserts that the
attack failed as a user would see it; the autouse fixture in conftest.py then
checks that the service is healthy after it (/healthz and a trivial run), and
the module leak check that nothing was left behind.

Where this gVisor (Debian's runsc 20221219) permits a step that Linux would
refuse -- unprivileged unshare of user and mount namespaces, listing
/proc/1/fd, reading /proc/1/environ, mknod -- the test asserts that the
attack's real goal still fails (docs/THREAT_MODEL.md section 8)."""
import json
import platform
import socket
import subprocess
import time

import pytest

from conftest import (MiB, containers_created_for, execute, live_containers_of, request_id,
                      run_code, run_cold, run_ok, sse_collect, sse_events, stream_execute,
                      strict_json, wait_gone)


# ---------------------------------------------------------------- resource exhaustion

FORK_BOMBS = [
    ("bash", ":(){ :|:& };:"),
    ("python", "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"),
]


def assert_bomb_contained(r, max_duration_ms):
    """A bomb's answer is the program's result: HTTP 200, the program ended
    (its own exit, the wall time, or killed) within its limits; never a
    503 from the sandbox runtime dying."""
    assert r.status_code == 200, f"HTTP {r.status_code}: {r.text[:500]}"
    run = strict_json(r)["run"]
    assert run["durationMs"] <= max_duration_ms, run
    return run


@pytest.mark.slow
@pytest.mark.parametrize("language,code", FORK_BOMBS, ids=["bash", "python"])
def test_fork_bomb(language, code):
    r = execute({"language": language, "code": code,
                 "limits": {"pids": 16, "wallTimeMs": 5000}}, timeout=60)
    run = assert_bomb_contained(r, 6000)
    assert run["oomKilled"] is False, run


def test_fork_bomb_never_crashes_the_sandbox():
    """Ten fork bombs in a row (pids 16, bash and python): every one must be
    answered with the program's result (THREAT_MODEL 8.8: the ptrace
    platform's host threads used to exhaust the container's PidsLimit and
    crash the Sentry, answered 503)."""
    answers = []
    for i in range(10):
        language, code = FORK_BOMBS[i % 2]
        r = execute({"language": language, "code": code,
                     "limits": {"pids": 16, "wallTimeMs": 2000}}, timeout=60)
        answers.append((language, r.status_code, r.text[:160] if r.status_code != 200 else ""))
        if r.status_code == 200:
            run = strict_json(r)["run"]
            assert run["durationMs"] <= 3500 and not run["oomKilled"], run
    bad = [a for a in answers if a[1] != 200]
    assert not bad, f"{len(bad)} of 10 fork bombs were not answered 200: {bad[:3]}"


@pytest.mark.slow
def test_fork_bomb_past_the_sentry_cap_is_the_programs_result():
    """A fork bomb with many pids, much memory and a long wall time grows
    gVisor's host threads (ptrace stubs x Sentry threads) until the
    container's PidsLimit refuses one and the Sentry dies (THREAT_MODEL
    8.8; measured: within about 8 s at pids 64). The service must answer
    that as the program's result -- killed, HTTP 200 -- not as a 503."""
    r = execute({"language": "python", "code": FORK_BOMBS[1][1],
                 "limits": {"pids": 64, "memoryBytes": 512 * MiB, "wallTimeMs": 20000}},
                timeout=90)
    run = assert_bomb_contained(r, 21000)
    assert run["signal"] == "SIGKILL" and run["exitCode"] == 137, run


SENTRY_CRASH = ("known defect (THREAT_MODEL 8.6): a memory bomb can make gVisor's Sentry "
                "die instead of the program being OOM-killed, answered 503 sandbox_failed")


def xfail_if_sandbox_crashed(r):
    """A memory bomb answered 503 sandbox_failed took gVisor itself down: a
    known defect, reported as an expected failure (visible as XFAIL), never
    as a pass."""
    if r.status_code == 503 and '"sandbox_failed"' in r.text:
        pytest.xfail(SENTRY_CRASH + ": " + r.text[:200])


PIDS_PROBE = ("import os, time\n"
              "n = 0\n"
              "for i in range(200):\n"
              "    try:\n"
              "        pid = os.fork()\n"
              "    except OSError:\n"
              "        break\n"
              "    if pid == 0:\n"
              "        os.close(1); os.close(2)\n"
              "        time.sleep(30)\n"
              "        os._exit(0)\n"
              "    n += 1\n"
              "print(n, flush=True)\n")


def test_pids_limit_bounds_processes():
    """The attack's goal, an unbounded number of processes, fails: forking
    stops at the pids limit (plus the one extra task this runsc allows, see
    test_pids_limit_is_exact) and the run still ends normally."""
    doc = run_ok({"language": "python", "code": PIDS_PROBE,
                  "limits": {"pids": 16, "wallTimeMs": 8000}})
    assert doc["limits"]["pids"] == 16
    run = doc["run"]
    assert run["exitCode"] == 0 and not run["timedOut"], run
    n = int(run["stdout"].split()[0])
    assert 1 <= n and n + 1 <= 16 + 1, \
        f"{n} children + the parent = {n + 1} processes under a pids limit of 16"


def test_pids_limit_is_exact():
    """pids 16 means 16 tasks, the program included: runsc 20221219 lets a
    uid hold RLIMIT_NPROC + 1 tasks, and the guest compensates
    (THREAT_MODEL 8.5)."""
    doc = run_ok({"language": "python", "code": PIDS_PROBE,
                  "limits": {"pids": 16, "wallTimeMs": 8000}})
    n = int(doc["run"]["stdout"].split()[0])
    assert n + 1 <= 16, f"{n} children + the parent = {n + 1} processes under a pids limit of 16"


@pytest.mark.slow
def test_memory_bomb():
    code = ("blocks = []\n"
            "while True:\n"
            "    blocks.append(bytearray(16 << 20))\n"
            "    for i in range(0, len(blocks[-1]), 4096): blocks[-1][i] = 1\n")
    r = execute({"language": "python", "code": code,
                 "limits": {"memoryBytes": 128 * MiB, "wallTimeMs": 20000}})
    xfail_if_sandbox_crashed(r)
    assert r.status_code == 200, f"HTTP {r.status_code}: {r.text[:500]}"
    run = strict_json(r)["run"]
    assert run["oomKilled"] is True, run
    assert run["timedOut"] is False, run


FILL = r'''
import errno, json, os, sys
root = os.path.expandvars(sys.argv[1])
total, err, i = 0, None, 0
chunk = b"\0" * (1 << 20)
while total < (4 << 30) and err is None:
    path = os.path.join(root, "fill%d" % i)
    i += 1
    try:
        with open(path, "wb") as f:
            for _ in range(8):
                f.write(chunk)
                f.flush()
                total += len(chunk)
    except OSError as e:
        if e.errno == errno.EFBIG:   # per-file cap: go on with another file
            continue
        err = e.errno
print(json.dumps({"total": total, "errno": err}))
'''

# Docker's default /dev/shm size: the spec sets no ShmSize, so /dev/shm is a
# third writable tmpfs whose size does not follow tmpfsBytes.
SHM_BYTES = 64 * MiB


@pytest.mark.slow
@pytest.mark.parametrize("where", ["/box", "/tmp", "/dev/shm", "$HOME"])
def test_disk_fill(where):
    """Filling any writable path (HOME is /box for every catalogue language)
    stops with ENOSPC at that path's size cap, inside the sandbox."""
    doc = run_ok({"language": "python", "code": FILL, "args": [where],
                  "limits": {"memoryBytes": 512 * MiB, "wallTimeMs": 20000}})
    run = doc["run"]
    assert not run["timedOut"], f"filling {where} never hit a size cap: {run}"
    assert run["exitCode"] == 0 and not run["oomKilled"], run
    res = json.loads(run["stdout"])
    assert res["errno"] == 28, f"writes to {where} did not stop with ENOSPC: {res}"
    cap = doc["limits"]["tmpfsBytes"]
    if where == "/dev/shm":
        cap = max(cap, SHM_BYTES)
    assert 0 < res["total"] <= cap, (res, cap)
    assert res["total"] < 2 << 30, res


def test_stderr_flood():
    code = "import sys\nwhile True:\n    sys.stderr.write('E' * 65536)\n"
    doc = run_ok({"language": "python", "code": code,
                  "limits": {"outputBytes": 65536, "wallTimeMs": 10000}})
    run = doc["run"]
    lim = doc["limits"]["outputBytes"]
    assert run["truncated"] is True, run["truncated"]
    assert len(run["stdout"]) + len(run["stderr"]) == lim
    assert run["timedOut"] is False and run["durationMs"] < 8000, \
        f"flooding program was not stopped at the cap: {run['durationMs']} ms"


@pytest.mark.slow
def test_stdout_flood_stream():
    code = "import sys\nwhile True:\n    sys.stdout.write('O' * 65536)\n"
    r = stream_execute({"language": "python", "code": code,
                        "limits": {"outputBytes": 65536, "wallTimeMs": 10000}})
    assert r.status_code == 200
    events = sse_collect(r, max_seconds=30)
    streamed = sum(len(d["chunk"]) for ev, d, _ in events if ev in ("stdout", "stderr"))
    done = [d for ev, d, _ in events if ev == "done"]
    assert len(done) == 1, [ev for ev, _, _ in events][-5:]
    assert streamed == done[0]["limits"]["outputBytes"], streamed
    assert done[0]["run"]["truncated"] is True


@pytest.mark.slow
@pytest.mark.parametrize("language,code", [("python", "while True:\n    pass\n"),
                                           ("bash", "while :; do :; done"),
                                           ("javascript", "for(;;){}")],
                         ids=["python", "bash", "javascript"])
def test_infinite_loop(language, code):
    run = run_code(language, code, limits={"wallTimeMs": 2000})
    assert run["timedOut"] is True and run["oomKilled"] is False, run
    assert run["durationMs"] <= 3000, run


# ---------------------------------------------------------------- process escapes

ORPHANS = {
    "inherits-pipes": "sleep 1000 &\necho started",
    "nohup-detached": "nohup sleep 1000 >/dev/null 2>&1 </dev/null &\necho started",
    "setsid": "setsid sleep 1000 >/dev/null 2>&1 </dev/null &\necho started",
    "double-fork": "( ( exec sleep 1000 </dev/null >/dev/null 2>&1 & ) & )\necho started",
    "ignores-signals": "(trap '' HUP TERM INT; exec sleep 1000) </dev/null >/dev/null 2>&1 &\n"
                       "disown\necho started",
}


@pytest.mark.parametrize("name", sorted(ORPHANS))
def test_orphan_background_process(name):
    """A process that tries to outlive the run: the run reports without
    waiting for it, its sandbox (container and cgroup) is gone soon after,
    and the next run sees nothing of it."""
    t0 = time.time()
    rid, doc = run_cold({"language": "bash", "code": ORPHANS[name],
                         "limits": {"wallTimeMs": 10000}})
    run = doc["run"]
    assert run["stdout"] == "started\n", run
    assert run["exitCode"] == 0 and run["timedOut"] is False, run
    assert run["durationMs"] < 8000, f"the run waited for the orphan: {run}"
    mine = containers_created_for([rid], t0)
    assert len(mine) == 1, f"expected one sandbox for request {rid}: {mine}"
    left = wait_gone(mine, 10.0)
    assert not left, f"the orphan kept its sandbox alive: {left}"
    nxt = run_code("python", "import os\n"
                             "print(sorted(open(f'/proc/{p}/cmdline', 'rb').read()"
                             ".split(b'\\0')[0].decode() for p in os.listdir('/proc') "
                             "if p.isdigit()))")
    assert "sleep" not in nxt["stdout"], f"the next run sees the orphan: {nxt['stdout']}"


def test_kill_everything_from_user_code():
    run = run_code("bash", "sleep 100 & kill -9 -1; echo after-kill-all; "
                           "kill -9 1; echo after-kill-1; kill -TERM 1; sleep 0.2; echo end")
    assert "after-kill-all" in run["stdout"] and "end" in run["stdout"], run
    assert run["timedOut"] is False, run


def test_kill_pid1_from_python():
    code = ("import os, signal\n"
            "for s in (signal.SIGKILL, signal.SIGTERM, signal.SIGSTOP, signal.SIGINT):\n"
            "    try:\n"
            "        os.kill(1, s)\n"
            "    except OSError as e:\n"
            "        pass\n"
            "print('done', flush=True)\n")
    run = run_code("python", code, limits={"wallTimeMs": 5000})
    assert run["stdout"] == "done\n" and run["exitCode"] == 0, run
    assert run["timedOut"] is False, run


def test_pid1_is_off_limits():
    """The guest's secrets and control channels are out of reach. This runsc
    lets other uids list /proc/1/fd and read /proc/1/environ (THREAT_MODEL
    8.2): listing is allowed here (test_pid1_fds_not_openable proves no fd
    opens), and environ must hold nothing but NUL bytes (the guest zeroes
    it); everything else must be refused."""
    code = r'''
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
def attempt(name, fn):
    try:
        r = fn()
        print(name, "OK", r)
    except OSError as e:
        print(name, "denied", e.errno)
def environ():
    data = open("/proc/1/environ", "rb").read()
    return "nonzero=%d" % len(data.replace(b"\0", b""))
attempt("environ", environ)
attempt("fd-open", lambda: [open("/proc/1/fd/" + f, "rb").close() for f in os.listdir("/proc/1/fd")] and "opened")
attempt("root", lambda: os.listdir("/proc/1/root"))
attempt("mem", lambda: open("/proc/1/mem", "rb").read(1))
attempt("cwd", lambda: os.listdir("/proc/1/cwd"))
attempt("exe", lambda: open("/proc/1/exe", "rb").read(1))
def ptrace():
    if libc.ptrace(16, 1, None, None) != 0:   # PTRACE_ATTACH
        raise OSError(ctypes.get_errno(), "ptrace")
attempt("ptrace", ptrace)
def seize():
    if libc.ptrace(0x4206, 1, None, None) != 0:   # PTRACE_SEIZE
        raise OSError(ctypes.get_errno(), "ptrace")
attempt("seize", seize)
def vmread():
    buf = ctypes.create_string_buffer(8)
    class iovec(ctypes.Structure):
        _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
    local = iovec(ctypes.cast(buf, ctypes.c_void_p), 8)
    remote = iovec(0x400000, 8)
    if libc.process_vm_readv(1, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0) < 0:
        raise OSError(ctypes.get_errno(), "process_vm_readv")
attempt("vmread", vmread)
'''
    run = run_code("python", code)
    res = {l.split(" ", 1)[0]: l.split(" ", 1)[1] for l in run["stdout"].splitlines()}
    assert set(res) == {"environ", "fd-open", "root", "mem", "cwd", "exe", "ptrace",
                        "seize", "vmread"}, run
    env = res.pop("environ")
    assert env.startswith("denied") or env == "OK nonzero=0", \
        f"the guest's environment is readable: {env}"
    fdopen = res.pop("fd-open")
    assert fdopen.startswith("denied") or fdopen == "OK []", f"a guest fd opened: {fdopen}"
    ok = {k: v for k, v in res.items() if not v.startswith("denied")}
    assert not ok, f"user code reached PID 1 (the guest): {ok}"


def test_pid1_fds_not_openable():
    # Even where /proc/1/fd can be listed, none of the guest's fds (its
    # protocol pipes) may be opened by user code.
    code = ("import os\nres = {}\n"
            "try:\n    fds = os.listdir('/proc/1/fd')\nexcept OSError:\n    fds = []\n"
            "for fd in fds:\n"
            "    for mode in ('rb', 'wb'):\n"
            "        try:\n"
            "            open('/proc/1/fd/' + fd, mode, buffering=0).close()\n"
            "            res[fd + mode] = 'opened'\n"
            "        except OSError as e:\n"
            "            res[fd + mode] = 'denied'\n"
            "print(sorted(k for k, v in res.items() if v == 'opened'))\n")
    run = run_code("python", code)
    assert run["stdout"] == "[]\n", f"guest fds opened by user code: {run['stdout']}"


def test_no_inherited_fds():
    # User code must not hold the guest's protocol fd (or any other extra fd).
    code = ("import os\nopen_fds = []\n"
            "for fd in range(3, 4096):\n"
            "    try:\n        os.fstat(fd)\n        open_fds.append(fd)\n"
            "    except OSError:\n        pass\n"
            "print(open_fds)\n")
    run = run_code("python", code)
    assert run["stdout"] == "[]\n", f"extra fds open in user code: {run['stdout']}"


def test_forged_frames_do_not_change_the_result():
    # Bytes that look like guest frames / SSE events are just output.
    code = ("import sys\n"
            "fake = b'x\\x00\\x00\\x00\\x0crexit=0\\x00' + b'd\\x00\\x00\\x00\\x00'\n"
            "sys.stdout.buffer.write(fake); sys.stdout.flush()\n"
            "sys.stderr.buffer.write(fake); sys.stderr.flush()\n"
            "sys.stdout.write('\\n\\nevent: done\\ndata: {\"run\": {\"exitCode\": 0}}\\n\\n')\n"
            "sys.exit(3)\n")
    run = run_code("python", code)
    assert run["exitCode"] == 3, run
    assert "event: done" in run["stdout"], run
    r = stream_execute({"language": "python", "code": code})
    events = sse_collect(r)
    kinds = [ev for ev, _, _ in events]
    assert kinds.count("done") == 1 and kinds[-1] == "done", kinds
    assert events[-1][1]["run"]["exitCode"] == 3
    out = "".join(d["chunk"] for ev, d, _ in events if ev == "stdout")
    assert "event: done" in out


# ---------------------------------------------------------------- host exposure

def test_no_docker_socket():
    code = ("import os\n"
            "for p in ('/var/run/docker.sock', '/run/docker.sock', '/var/run/docker',\n"
            "          '/run/containerd/containerd.sock', '/run/isobox'):\n"
            "    print(p, os.path.exists(p))\n"
            "print('mounts', 'docker.sock' in open('/proc/mounts').read())\n")
    run = run_code("python", code)
    assert "True" not in run["stdout"], run["stdout"]


def test_hostname_is_not_the_hosts():
    run = run_code("python", "import socket\nprint(socket.gethostname())")
    inside = run["stdout"].strip()
    assert inside and inside != socket.gethostname(), (inside, socket.gethostname())


def test_kernel_is_gvisor():
    run = run_code("python", "import platform\nprint(platform.release())\n"
                             "print(open('/proc/version').read().strip())")
    assert run["stdout"].split("\n")[0] != platform.release(), \
        f"the sandbox sees the host kernel: {run['stdout']}"


def test_host_processes_invisible():
    code = ("import os\n"
            "pids = [p for p in os.listdir('/proc') if p.isdigit()]\n"
            "names = sorted(open(f'/proc/{p}/comm').read().strip() for p in pids)\n"
            "print(len(pids), names)\n")
    run = run_code("python", code)
    n = int(run["stdout"].split()[0])
    assert n < 10, run["stdout"]
    names = set(eval(run["stdout"].split(" ", 1)[1]))
    host_only = {"dockerd", "containerd", "containerd-shim", "lighttpd", "isobox.fcgi",
                 "sshd", "runsc", "runsc-gofer", "runsc-sandbox", "exe", "systemd"}
    assert not names & host_only, names


# Each privileged operation is attempted in a fresh process. Those that need
# no namespace must be refused outright. This runsc lets an unprivileged
# process unshare a user and a mount namespace (THREAT_MODEL 8.4); what
# matters is what that buys, so those cases go on to the attack's goal
# (mount something, remount the root writable, write the root) and require
# THAT to fail.
PRIV_OPS = {
    "mount-tmpfs": 'libc.mount(b"none", b"/tmp", b"tmpfs", 0, None)',
    "remount-root-rw": 'libc.mount(None, b"/", None, 32 | 4096, None)',  # MS_REMOUNT|MS_BIND
    "unshare-net": "libc.unshare(0x40000000)",  # CLONE_NEWNET
    "unshare-pid": "libc.unshare(0x20000000)",  # CLONE_NEWPID
    "chroot": 'libc.chroot(b"/tmp")',
    # unshare(CLONE_NEWNS) may succeed here; mounting afterwards must not.
    "unshare-mount-then-mount": 'libc.unshare(0x00020000) * 0 or '
                                'libc.mount(b"none", b"/tmp", b"tmpfs", 0, None)',
    # unshare(CLONE_NEWUSER) may succeed here; the full capability set it
    # gives must not let the process mount or remount anything.
    "unshare-user-then-mount": 'libc.unshare(0x10000000) * 0 or '
                               'libc.mount(b"none", b"/tmp", b"tmpfs", 0, None)',
    "userns-then-mount": 'libc.unshare(0x10000000 | 0x00020000) * 0 or '
                         'libc.mount(b"none", b"/tmp", b"tmpfs", 0, None)',
    "userns-then-remount-root-rw": 'libc.unshare(0x10000000 | 0x00020000) * 0 or '
                                   'libc.mount(None, b"/", None, 32, None)',
    "userns-then-bind-root": 'libc.unshare(0x10000000 | 0x00020000) * 0 or '
                             'libc.mount(b"/", b"/tmp", None, 4096 | 16384, None)',
    "userns-then-mount-proc": 'libc.unshare(0x10000000 | 0x00020000) * 0 or '
                              'libc.mount(b"proc", b"/tmp", b"proc", 0, None)',
}


@pytest.mark.parametrize("op", sorted(PRIV_OPS))
def test_privileged_operation_fails(op):
    """mount, chroot and namespace tricks need privileges user code must not
    have; where this runsc grants the namespace, the mount that would use it
    must still fail."""
    code = ("import ctypes\n"
            "libc = ctypes.CDLL(None, use_errno=True)\n"
            f"rc = {PRIV_OPS[op]}\n"
            "print('OK' if rc == 0 else 'denied %d' % ctypes.get_errno())\n")
    run = run_code("python", code)
    assert run["stdout"].startswith("denied"), f"{op}: {run['stdout']!r} {run['stderr'][-300:]!r}"


def test_setuid_fails():
    code = r'''
import os
for name, fn in (("setuid", lambda: os.setuid(0)), ("seteuid", lambda: os.seteuid(0)),
                 ("setgid", lambda: os.setgid(0)), ("setgroups", lambda: os.setgroups([0])),
                 ("setresuid", lambda: os.setresuid(0, 0, 0)),
                 ("setresgid", lambda: os.setresgid(0, 0, 0))):
    try:
        fn()
        print(name, "OK")
    except OSError as e:
        print(name, "denied")
print("uid", os.getuid(), os.geteuid())
'''
    run = run_code("python", code)
    assert "OK" not in run["stdout"], run["stdout"]
    assert "uid 65534 65534" in run["stdout"], run["stdout"]


def test_su_and_setuid_binaries_fail():
    code = ("for b in su sudo mount passwd newgrp chsh; do\n"
            "  p=$(command -v $b) || continue\n"
            "  echo \"try $b\"\n"
            "done\n"
            "su -c 'id -u' root </dev/null 2>&1; echo \"su-rc=$?\"\n"
            "id -u\n")
    run = run_code("bash", code, limits={"wallTimeMs": 15000})
    out = run["stdout"]
    assert "su-rc=0" not in out, out
    assert out.strip().split("\n")[-1] == "65534", out
    # No line is a bare 0 (someone printing uid 0).
    assert "\n0\n" not in "\n" + out, out


def test_raw_and_packet_sockets_fail():
    code = r'''
import socket
for name, args in (("raw-icmp", (socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)),
                   ("raw-tcp", (socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)),
                   ("packet", (socket.AF_PACKET, socket.SOCK_RAW, 0x0300))):
    try:
        socket.socket(*args).close()
        print(name, "OK")
    except OSError as e:
        print(name, "denied", e.errno)
'''
    run = run_code("python", code)
    assert "OK" not in run["stdout"], run["stdout"]
    assert len(run["stdout"].splitlines()) == 3, run


def _host_ips():
    ips = {"172.17.0.1"}
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.connect(("192.0.2.1", 9))
        ips.add(s.getsockname()[0])
        s.close()
    except OSError:
        pass
    return sorted(ips)


def test_no_network_reach():
    # Connection attempts are made by the sandboxed program, which has no
    # network at all: they fail inside gVisor and never leave the machine.
    targets = [(ip, 8090) for ip in _host_ips()] + [("127.0.0.1", 8090), ("1.1.1.1", 53),
                                                    ("169.254.169.254", 80)]
    code = ("import socket, sys, json\n"
            "res = {}\n"
            f"for host, port in {targets!r}:\n"
            "    s = socket.socket(); s.settimeout(2)\n"
            "    try:\n"
            "        s.connect((host, port)); res[f'{host}:{port}'] = 'connected'\n"
            "    except OSError as e:\n"
            "        res[f'{host}:{port}'] = 'failed'\n"
            "    s.close()\n"
            "try:\n"
            "    socket.getaddrinfo('example.com', 80); res['dns'] = 'resolved'\n"
            "except OSError:\n"
            "    res['dns'] = 'failed'\n"
            "print(json.dumps(res))\n")
    run = run_code("python", code, limits={"wallTimeMs": 20000})
    res = json.loads(run["stdout"])
    reached = {k: v for k, v in res.items() if v != "failed"}
    assert not reached, f"the sandbox reached the network: {reached}"


# ---------------------------------------------------------------- the container spec

@pytest.mark.slow
def test_container_is_hardened():
    """Inspect a live sandbox: gVisor, no network, read-only, no caps,
    no-new-privileges, no swap, capped, under the slice, labelled, no sockets."""
    limits = {"memoryBytes": 96 * MiB, "pids": 24, "cpus": 0.5, "wallTimeMs": 10000}
    r = stream_execute({"language": "python", "limits": limits,
                        "code": "import time\nprint('up', flush=True)\ntime.sleep(4)"})
    assert r.status_code == 200
    rid = request_id(r)
    it = sse_events(r)
    ev, _, _ = next(it)
    assert ev == "stdout"
    # The sandbox of this request (a cold one: 96 MiB is not the pool's shape).
    live = [c for c in live_containers_of([rid]) if c[2] == "running"]
    assert len(live) == 1, live
    info = json.loads(subprocess.run(["docker", "inspect", live[0][0]], capture_output=True,
                                     text=True, check=True).stdout)[0]
    done = None
    for ev, data, _ in it:  # let the run finish
        if ev == "done":
            done = json.loads(data)
    assert done is not None
    applied = done["limits"]["memoryBytes"]
    hc, cfg = info["HostConfig"], info["Config"]
    problems = []
    if not str(hc.get("Runtime", "")).startswith("runsc"):
        problems.append(f"runtime {hc.get('Runtime')}")
    if hc.get("NetworkMode") != "none":
        problems.append(f"network {hc.get('NetworkMode')}")
    if not hc.get("ReadonlyRootfs"):
        problems.append("rootfs writable")
    if hc.get("Privileged"):
        problems.append("privileged")
    if "ALL" not in [c.upper() for c in (hc.get("CapDrop") or [])]:
        problems.append(f"CapDrop {hc.get('CapDrop')}")
    # The guest (PID 1) may keep what it needs to drop to uid 65534 and to
    # kill user code; user code itself holds no capability (test_execute).
    extra = {c.upper().replace("CAP_", "") for c in hc.get("CapAdd") or []} - \
        {"SETUID", "SETGID", "KILL"}
    if extra:
        problems.append(f"CapAdd {hc.get('CapAdd')}")
    if not any(o.startswith("no-new-privileges") and not o.endswith("false")
               for o in hc.get("SecurityOpt") or []):
        problems.append(f"SecurityOpt {hc.get('SecurityOpt')}")
    # The container gets the user's limit plus a fixed allowance for the
    # Sentry (SANDBOX_MEMORY_OVERHEAD, 48 MiB), and no swap.
    if not (applied < (hc.get("Memory") or 0) <= applied + 64 * MiB) \
            or hc.get("MemorySwap") != hc.get("Memory"):
        problems.append(f"memory {hc.get('Memory')} swap {hc.get('MemorySwap')} "
                        f"(reported limit {applied})")
    if not hc.get("PidsLimit") or hc["PidsLimit"] <= 0:
        problems.append(f"PidsLimit {hc.get('PidsLimit')}")
    if hc.get("NanoCpus") != int(0.5e9):
        problems.append(f"NanoCpus {hc.get('NanoCpus')}")
    if "isobox.slice" not in str(hc.get("CgroupParent")):
        problems.append(f"CgroupParent {hc.get('CgroupParent')}")
    tmpfs = hc.get("Tmpfs") or {}
    for p in ("/box", "/tmp"):
        if "size=" not in tmpfs.get(p, ""):
            problems.append(f"tmpfs {p}: {tmpfs.get(p)!r}")
    for m in info.get("Mounts") or []:
        if m.get("RW"):
            problems.append(f"writable mount {m.get('Source')} -> {m.get('Destination')}")
        if "docker.sock" in str(m.get("Source")):
            problems.append("docker socket mounted")
    for e in cfg.get("Env") or []:
        if e.startswith(("ISOBOX_", "DOCKER_")):
            problems.append(f"env {e.split('=')[0]}")
    labels = cfg.get("Labels") or {}
    if labels.get("isobox.managed") != "1":
        problems.append(f"labels {labels}")
    if hc.get("PidMode") or hc.get("IpcMode") not in ("", "private", "none", None) \
            or hc.get("UTSMode"):
        problems.append(f"namespaces pid={hc.get('PidMode')} ipc={hc.get('IpcMode')} "
                        f"uts={hc.get('UTSMode')}")
    assert not problems, problems
