#!/usr/bin/env python3
"""guest_job.py - speak the isobox host<->guest framing (src/wire.h) by hand.

Encodes a job for isobox-guest, decodes what the guest writes back, runs a
job in a real gVisor container with `docker run -i`, and holds the guest's
acceptance checks. Standard library only. The docker CLI demultiplexes the
attach stream, so its stdout is the raw guest stream (a host attaching
through the Engine API without a TTY sees 8-byte stream headers instead).

  guest_job.py encode [JOB OPTIONS] > job.bin
  guest_job.py decode [--json] < out.bin
  guest_job.py run [--guest PATH] [--image IMAGE] [JOB OPTIONS]
  guest_job.py check [--guest PATH] [--image IMAGE] [-k NAME]

Protocol 2: records of the guest's answer carry the job's (or file
operation's) u32 id; `Session` drives a guest started with --session (jobs
with ids, file put/get/list/delete, SYNC, INTERRUPT), and the checks named
session_* exercise it.

JOB OPTIONS: --file NAME=TEXT, --file-from NAME=PATH, --env KEY=VALUE,
--compile 'ARGV', --run 'ARGV' (shell words), --stdin TEXT, --limit KEY=N.
"""
import argparse
import json
import os
import select
import shlex
import struct
import subprocess
import sys
import time

# Record types (wire.h).
FILE, ENV, COMPILE, RUN, STDIN, LIMITS, GO = b"FECRILG"
JOB, SYNC, INTR, FPUT, FDATA, FEND, FGET, FLIST, FDEL, BYE = b"JSKPpeglXQ"
READY, OUT, RESULT, FAIL, DONE = b"roxfd"
DISPLAY, SYNCED, FSTAT, FENTRY = b"ystn"
NOOP = 0
NAMES = dict(zip(b"FECRILGJSKPeglXQroxfdystnp",
                 "FILE ENV COMPILE RUN STDIN LIMITS GO JOB SYNC INTERRUPT"
                 " FPUT FEND FGET FLIST FDEL BYE READY OUT RESULT FAIL DONE"
                 " DISPLAY SYNCED FSTAT FENTRY FDATA".split()))
NAMES[NOOP] = "NOOP"
# Guest -> host records that start with the u32 id.
WITH_ID = {OUT, RESULT, FAIL, DONE, DISPLAY, FSTAT, FENTRY, FDATA}
CHUNK_MAX = 64 * 1024           # WIRE_CHUNK_MAX
PAD_LEN = CHUNK_MAX + 64        # WIRE_PAD_LEN
SYNC_HDR = b"S\0\0\0\x10"
VERSION = "isobox-guest 2"

DOCKER_RUN = [
    "docker", "run", "--rm", "-i", "--runtime=runsc-isobox",
    "--network=none", "--read-only", "--user", "0", "--cap-drop", "ALL",
    "--cap-add", "SETUID", "--cap-add", "SETGID", "--cap-add", "KILL",
    "--security-opt", "no-new-privileges",
    "--tmpfs", "/box:size=64m,mode=0755",
    "--tmpfs", "/tmp:size=64m,mode=1777",
]
PROBE_C = r"""
#include <stdio.h>
#include <sys/prctl.h>
int main(void)
{
	printf("NoNewPrivs=%d\n", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
	return 0;
}
"""
DEFAULT_ENV = ["PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/box",
               "LANG=C.UTF-8"]


def record(rtype, payload=b""):
    """One record: u8 type | u32 BE length | payload."""
    return struct.pack(">BI", rtype, len(payload)) + payload


def nul_list(items):
    return b"".join(s.encode() + b"\0" for s in items)


def encode_job(files=(), env=DEFAULT_ENV, compile_argv=None, run_argv=None,
               stdin=b"", limits=None, go=True, job_id=None):
    """Bytes of one job. files: (name, bytes) pairs; names are not checked.
    job_id: a JOB record first (without one the job's id is 0)."""
    out = []
    if job_id is not None:
        out.append(record(JOB, struct.pack(">I", job_id)))
    for name, data in files:
        n = name.encode()
        out.append(record(FILE, struct.pack(">H", len(n)) + n + data))
    out.append(record(ENV, nul_list(env)))
    if compile_argv:
        out.append(record(COMPILE, nul_list(compile_argv)))
    if run_argv:
        out.append(record(RUN, nul_list(run_argv)))
    for i in range(0, len(stdin), CHUNK_MAX):
        out.append(record(STDIN, stdin[i:i + CHUNK_MAX]))
    if limits:
        out.append(record(LIMITS, nul_list(
            "%s=%d" % kv for kv in limits.items())))
    if go:
        out.append(record(GO))
    return b"".join(out)


def decode(data):
    """Records in data as (type, payload); a torn tail is ("torn", bytes)."""
    recs, i = [], 0
    while i + 5 <= len(data):
        rtype, n = struct.unpack(">BI", data[i:i + 5])
        if i + 5 + n > len(data):
            break
        recs.append((rtype, data[i + 5:i + 5 + n]))
        i += 5 + n
    if i < len(data):
        recs.append(("torn", data[i:]))
    return recs


def split_id(rtype, p):
    """(id, rest of the payload) of a guest record that carries one."""
    if rtype in WITH_ID and len(p) >= 4:
        return struct.unpack(">I", p[:4])[0], p[4:]
    return None, p


def fail_text(p):
    """(code, sentence) of a FAIL payload after its id."""
    code, _, msg = p.partition(b"\0")
    return code.decode(errors="replace"), msg.decode(errors="replace")


def summarize(data):
    """Group decoded records into jobs, in order (a job ends at its DONE):
    {id, stages: {c|r: {...}}, fail, fail_code, display, done}."""
    s = {"ready": None, "jobs": [], "torn": None}
    job = None
    for rtype, p in decode(data):
        if rtype == READY:
            s["ready"] = p.decode()
            continue
        if rtype == "torn":
            s["torn"] = p.hex()
            continue
        rid, p = split_id(rtype, p)
        if job is None:
            job = {"id": rid, "stages": {}, "fail": None, "fail_code": None,
                   "display": [], "done": False}
            s["jobs"].append(job)
        if rtype in (OUT, RESULT):
            st = job["stages"].setdefault(chr(p[0]), {
                "stdout": bytearray(), "stderr": bytearray(),
                "result": None})
        if rtype == OUT:
            st["stdout" if p[1] == 1 else "stderr"] += p[2:]
        elif rtype == RESULT:
            kv = [x.split("=", 1) for x in p[1:].decode().split("\0") if x]
            st["result"] = {k: int(v) for k, v in kv}
        elif rtype == DISPLAY:
            job["display"].append((chr(p[0]), bytes(p[1:])))
        elif rtype == FAIL:
            job["fail_code"], job["fail"] = fail_text(p)
        elif rtype == DONE:
            job["done"] = True
            job = None
    return s


def printable(s):
    """summarize() output with bytes turned into text for printing."""
    def conv(o):
        if isinstance(o, (bytes, bytearray)):
            return o.decode(errors="replace")
        if isinstance(o, dict):
            return {k: conv(v) for k, v in o.items()}
        if isinstance(o, list):
            return [conv(v) for v in o]
        return o
    return conv(s)


def unavailable(guest, image):
    """Why checks that run guest in image cannot run here (no guest binary,
    image not built), or None."""
    if not os.access(guest, os.X_OK):
        return "no guest binary at %s (set ISOBOX_GUEST)" % guest
    if subprocess.run(["docker", "image", "inspect", image],
                      capture_output=True).returncode != 0:
        return "image %s is not built" % image
    return None


def docker_run(job, guest, image, loop=False, mounts=(), timeout=120):
    """Run job bytes in a fresh sandbox. Returns (summary, rc, stderr, s).
    mounts: (host path, container path) pairs bound read-only."""
    cmd = list(DOCKER_RUN)
    for src, dst in mounts:
        cmd += ["-v", "%s:%s:ro" % (src, dst)]
    cmd += ["-v", "%s:/.isobox/guest:ro" % os.path.abspath(guest), image,
            "/.isobox/guest"] + (["--loop"] if loop else [])
    t = time.monotonic()
    p = subprocess.run(cmd, input=job, capture_output=True, timeout=timeout)
    return (summarize(p.stdout), p.returncode,
            p.stderr.decode(errors="replace"), time.monotonic() - t)


def job_from_args(a):
    files = [(n, v.encode()) for n, v in (f.split("=", 1) for f in a.file)]
    for f in a.file_from:
        n, path = f.split("=", 1)
        with open(path, "rb") as fh:
            files.append((n, fh.read()))
    return encode_job(
        files=files, env=a.env or DEFAULT_ENV,
        compile_argv=shlex.split(a.compile) if a.compile else None,
        run_argv=shlex.split(a.run) if a.run else None,
        stdin=a.stdin.encode(),
        limits={k: int(v) for k, v in (x.split("=", 1) for x in a.limit)})


# ---- acceptance checks ---------------------------------------------------

PY = ["python3", "-c"]


def one(s, stage="r"):
    """The stage dict of the only job, asserting its shape."""
    assert len(s["jobs"]) == 1, s
    j = s["jobs"][0]
    assert j["done"] and j["fail"] is None, j
    return j["stages"].get(stage)


def c_hello(g, i):
    s, rc, _, _ = docker_run(encode_job(
        files=[("main.py", b'print("hello, world")\n')],
        run_argv=["python3", "main.py"]), g, i)
    r = one(s)
    assert s["ready"] == VERSION, s
    assert r["stdout"] == b"hello, world\n" and r["result"]["exit"] == 0, r
    assert rc == 0, rc
    return r["result"]


def c_stdin(g, i):
    s, _, _, _ = docker_run(encode_job(
        run_argv=PY + ["import sys; print(sys.stdin.read())"],
        stdin=b"line one\nline two"), g, i)
    r = one(s)
    assert r["stdout"] == b"line one\nline two\n", r
    return bytes(r["stdout"])


def c_big_stdin(g, i):
    s, _, _, _ = docker_run(encode_job(
        run_argv=["sh", "-c", "wc -c; true"], stdin=b"y" * 3000000), g, i)
    r = one(s)
    assert r["stdout"].strip() == b"3000000", r
    s, _, _, _ = docker_run(encode_job(
        run_argv=["true"], stdin=b"y" * 3000000), g, i)
    assert one(s)["result"]["exit"] == 0, s
    return "3 MB piped; ignored stdin gives EPIPE quietly"


def c_exit3(g, i):
    s, _, _, _ = docker_run(encode_job(
        run_argv=PY + ["import sys; sys.stderr.write('bye'); sys.exit(3)"]),
        g, i)
    r = one(s)
    assert r["result"]["exit"] == 3 and r["result"]["signal"] == 0, r
    assert r["stderr"] == b"bye", r
    return r["result"]


def c_identity(g, i):
    # This gVisor's /proc/self/status has no NoNewPrivs line: ask prctl
    # through a static probe bound in next to the guest.
    probe = "/tmp/isobox-probe-%d" % os.getpid()
    subprocess.run(["gcc", "-static", "-O2", "-o", probe, "-x", "c", "-"],
                   input=PROBE_C.encode(), check=True)
    try:
        s, _, _, _ = docker_run(encode_job(run_argv=["sh", "-c",
            "id; grep -E '^Cap' /proc/self/status; /.isobox/probe;"
            " ulimit -a"]), g, i, mounts=[(probe, "/.isobox/probe")])
    finally:
        os.unlink(probe)
    out = one(s)["stdout"].decode()
    assert "uid=65534" in out and "gid=65534" in out, out
    assert "groups=65534" in out, out
    assert "CapEff:\t0000000000000000" in out, out
    assert "CapPrm:\t0000000000000000" in out, out
    assert "NoNewPrivs=1" in out, out
    # pids 64 means 64 tasks, the program included: RLIMIT_NPROC is one
    # less under this gVisor (guest.c, guest_child).
    assert "process              63\n" in out, out
    return out


def c_env(g, i):
    s, _, _, _ = docker_run(encode_job(
        env=["PATH=/usr/bin:/bin", "FOO=bar baz"], run_argv=["env"]), g, i)
    r = one(s)
    assert r["stdout"] == b"PATH=/usr/bin:/bin\nFOO=bar baz\n", r
    s, _, _, _ = docker_run(encode_job(
        env=["PATH=/nonexistent"], run_argv=["env"]), g, i)
    r = one(s)
    assert r["result"]["exit"] == 127, r
    assert r["stderr"] == (b"isobox-guest: cannot run env: "
                           b"No such file or directory\n"), r
    return "env exact; PATH of ENV used for lookup; 127 on exec failure"


def c_truncate(g, i):
    s, _, _, _ = docker_run(encode_job(
        run_argv=PY + ["import sys; sys.stdout.write('x' * 1000000)"],
        limits={"output_bytes": 1000}), g, i)
    r = one(s)
    assert r["stdout"] == b"x" * 1000 and r["result"]["truncated"] == 1, r
    big = "1 MB -> %d bytes, %s" % (len(r["stdout"]), r["result"])
    s, _, _, _ = docker_run(encode_job(
        run_argv=["sh", "-c", "printf 12345; printf 67890 >&2"],
        limits={"output_bytes": 10}), g, i)
    r = one(s)
    assert len(r["stdout"] + r["stderr"]) == 10, r
    assert r["result"]["truncated"] == 0, r
    return big + "; exactly at the cap: not truncated"


def c_timeout(g, i):
    s, _, _, _ = docker_run(encode_job(
        run_argv=["sleep", "10"], limits={"run_wall_ms": 500}), g, i)
    r = one(s)["result"]
    assert r["timed_out"] == 1 and r["signal"] == 9 and r["exit"] == 137, r
    assert 500 <= r["duration_ms"] < 600, r
    return r


def c_background(g, i):
    s, _, _, el = docker_run(encode_job(
        run_argv=["sh", "-c", "sleep 100 & echo started"]), g, i)
    r = one(s)
    assert r["stdout"] == b"started\n" and r["result"]["exit"] == 0, r
    assert r["result"]["duration_ms"] < 500 and r["result"]["timed_out"] == 0
    # A daemon that detached its output too must not survive either.
    s, _, _, el2 = docker_run(encode_job(
        run_argv=["sh", "-c", "setsid sleep 100 >/dev/null 2>&1 </dev/null &"
                  " echo x"]), g, i, loop=True)
    assert one(s)["result"]["duration_ms"] < 500, s
    return "%s; docker run %.1fs / %.1fs" % (r["result"], el, el2)


def c_forkbomb(g, i):
    bomb = encode_job(run_argv=PY + ["import os\nwhile True: os.fork()"],
                      limits={"pids": 32, "run_wall_ms": 3000})
    # One that shrugs off failed forks runs into the wall time instead.
    bomb += encode_job(run_argv=PY + [
        "import os\nwhile True:\n try: os.fork()\n except OSError: pass"],
        limits={"pids": 32, "run_wall_ms": 2000})
    after = encode_job(run_argv=["sh", "-c", "echo alive; echo /proc/[0-9]*"])
    s, rc, _, el = docker_run(bomb + after, g, i, loop=True)
    assert len(s["jobs"]) == 3 and all(j["done"] for j in s["jobs"]), s
    r1 = s["jobs"][0]["stages"]["r"]["result"]
    r2 = s["jobs"][1]["stages"]["r"]["result"]
    r3 = s["jobs"][2]["stages"]["r"]
    assert r2["timed_out"] == 1 and r2["duration_ms"] < 2500, r2
    assert r3["stdout"] == b"alive\n/proc/1 /proc/%s\n" % (
        r3["stdout"].split(b"/proc/")[-1].strip()), r3
    assert rc == 0, rc
    return "bomb %s; bomb2 %s; next job: %r; %.1fs" % (
        r1, r2, bytes(r3["stdout"]), el)


def c_stopped(g, i):
    s, _, _, _ = docker_run(encode_job(run_argv=["sh", "-c",
        "sleep 100 & kill -STOP $!; echo stopped"]) + encode_job(
        run_argv=["sh", "-c", "echo /proc/[0-9]*"]), g, i, loop=True)
    r = s["jobs"][1]["stages"]["r"]
    assert r["stdout"].count(b"/proc/") == 2, r
    return "stopped orphan killed: %r" % bytes(r["stdout"])


def c_throughput(g, i):
    s, _, _, _ = docker_run(encode_job(
        run_argv=["head", "-c", "50000000", "/dev/zero"],
        limits={"output_bytes": 100000000}), g, i)
    r = one(s)
    assert len(r["stdout"]) == 50000000, r["result"]
    return "50 MB in %d ms" % r["result"]["duration_ms"]


def c_bad_name(g, i):
    res = []
    for name in ["../x", "/etc/x", "a//b", "a/./b", "x\n"]:
        s, rc, _, _ = docker_run(encode_job(
            files=[(name, b"x")], run_argv=["true"]), g, i)
        j = s["jobs"][0]
        assert j["fail"] and j["done"] and not j["stages"], s
        assert rc == 2, rc
        res.append(j["fail"])
    return res


def c_protocol(g, i):
    res = []
    for job in [encode_job(run_argv=["true"], go=False),
                encode_job(),
                encode_job(run_argv=["true"])[:-3],
                record(ord("Z")),
                encode_job(run_argv=["true"], limits={"pids": -1})]:
        s, rc, _, _ = docker_run(job, g, i)
        j = s["jobs"][0]
        assert j["fail"] and j["done"] and rc == 2, (s, rc)
        res.append(j["fail"])
    return res


def c_compile(g, i):
    s, _, _, _ = docker_run(encode_job(
        compile_argv=["sh", "-c", "echo nope >&2; exit 1"],
        run_argv=["echo", "ran"]), g, i)
    j = s["jobs"][0]
    assert j["done"] and "r" not in j["stages"], j
    c = j["stages"]["c"]
    assert c["result"]["exit"] == 1 and c["stderr"] == b"nope\n", c
    s, _, _, _ = docker_run(encode_job(
        files=[("src/gen.sh", b"#!/bin/sh\nprintf 'print(6*7)' > out.py\n")],
        compile_argv=["sh", "-c", "sh src/gen.sh && cat </dev/stdin"],
        run_argv=["python3", "out.py"]), g, i)
    j = s["jobs"][0]
    assert j["stages"]["c"]["result"]["exit"] == 0, j
    assert j["stages"]["r"]["stdout"] == b"42\n", j
    s, _, _, _ = docker_run(encode_job(
        compile_argv=["sleep", "5"], run_argv=["echo", "ran"],
        limits={"compile_wall_ms": 300}), g, i)
    j = s["jobs"][0]
    assert j["stages"]["c"]["result"]["timed_out"] == 1, j
    assert "r" not in j["stages"], j
    return "failed/timed-out compile skips run; ok compile feeds run"


STAT_PY = ("import os, sys\n"
           "for p in sys.argv[1:]:\n"
           "    st = os.lstat(p)\n"
           "    print('%o %d:%d %s' % (st.st_mode & 0o7777, st.st_uid,"
           " st.st_gid, p))\n")


def c_files(g, i):
    s, _, _, _ = docker_run(encode_job(
        files=[("a/b/run.sh", b"#!/bin/sh\necho hi\n"), ("m.txt", b"1"),
               ("m.txt", b"22")],
        run_argv=["sh", "-c", "python3 -c \"$0\" . a a/b a/b/run.sh m.txt;"
                  " cat m.txt; echo; sh a/b/run.sh", STAT_PY]), g, i)
    out = one(s)["stdout"].decode()
    dot, out = out.split("\n", 1)
    # /box itself: owned by 65534 if mounted so, else opened up by the guest.
    assert dot in ("755 65534:65534 .", "777 0:0 ."), dot
    assert out == ("755 65534:65534 a\n"
                   "755 65534:65534 a/b\n755 65534:65534 a/b/run.sh\n"
                   "644 65534:65534 m.txt\n22\nhi\n"), out
    return dot + "\n" + out


def c_exec_box(g, i):
    s, _, _, _ = docker_run(encode_job(run_argv=["sh", "-c",
        "cp /bin/true ./t && ./t && echo exec works in /box"]), g, i)
    r = one(s)
    return (r["stdout"] + r["stderr"]).decode().strip()


def c_symlink(g, i):
    first = encode_job(run_argv=["sh", "-c",
                                 "ln -s /etc evil && ln -s /tmp/t ln"])
    second = encode_job(files=[("ln", b"new")],
                        run_argv=["sh", "-c", "python3 -c \"$0\" ln; cat ln;"
                                  " test ! -e /tmp/t && echo no-t", STAT_PY])
    third = encode_job(files=[("evil/x", b"x")], run_argv=["true"])
    s, rc, _, _ = docker_run(first + second + third, g, i, loop=True)
    j = s["jobs"]
    assert len(j) == 3 and j[0]["done"] and j[1]["done"], s
    # A link to a directory 65534 may write to: still refused.
    first = encode_job(run_argv=["ln", "-s", "/tmp", "tl"])
    second = encode_job(files=[("tl/x", b"x")], run_argv=["true"])
    s2, rc2, _, _ = docker_run(first + second, g, i, loop=True)
    assert s2["jobs"][1]["fail"] and rc2 == 2, s2
    assert j[1]["stages"]["r"]["stdout"] == (b"644 65534:65534 ln\nnew"
                                             b"no-t\n"), j[1]
    assert j[2]["fail"] and rc == 2, (j[2], rc)
    return "%s; %s" % (j[2]["fail"], s2["jobs"][1]["fail"])


def c_proc1(g, i):
    s, _, _, _ = docker_run(encode_job(run_argv=PY + [
        "import os\n"
        "for p in ['/proc/1/fd/1', '/proc/1/fd/0', '/proc/1/mem',"
        " '/proc/1/root/etc/hostname', '/proc/1/cwd/x']:\n"
        "    try:\n"
        "        open(p, 'rb').close(); print(p, 'OPENED')\n"
        "    except OSError as e:\n"
        "        print(p, e.strerror)\n"
        "env = open('/proc/1/environ', 'rb').read()\n"
        "print('environ', 'EMPTY' if not env.strip(b'\\0') else env)\n"
        "try:\n"
        "    os.kill(1, 9); print('kill 1 OK')\n"
        "except OSError as e:\n"
        "    print('kill 1', e.strerror)\n"]), g, i)
    out = one(s)["stdout"].decode()
    assert "OPENED" not in out and "kill 1 OK" not in out, out
    assert "/proc/1/fd/1 Permission denied" in out, out
    assert "environ EMPTY" in out, out
    return out


def c_loop(g, i):
    jobs = encode_job(files=[("keep.txt", b"kept")], run_argv=["true"])
    jobs += encode_job(run_argv=["cat", "keep.txt"])
    s, rc, _, _ = docker_run(jobs, g, i, loop=True)
    assert len(s["jobs"]) == 2 and rc == 0, s
    assert s["jobs"][1]["stages"]["r"]["stdout"] == b"kept", s
    return "2 jobs, /box persists, rc 0 on EOF"


def c_sigterm(g, i):
    name = "isobox-guest-check-%d" % os.getpid()
    cmd = list(DOCKER_RUN) + ["--name", name, "-v",
                              "%s:/.isobox/guest:ro" % os.path.abspath(g),
                              i, "/.isobox/guest", "--loop"]
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        p.stdin.write(encode_job(run_argv=["sh", "-c", "echo up; sleep 60"],
                                 limits={"run_wall_ms": 60000}))
        p.stdin.flush()
        out = b""
        while b"up" not in out:
            chunk = os.read(p.stdout.fileno(), 4096)
            assert chunk, out
            out += chunk
        t = time.monotonic()
        subprocess.run(["docker", "kill", "--signal", "TERM", name],
                       capture_output=True, check=True)
        p.communicate(timeout=30)
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)
        p.kill()
        p.wait()
    assert p.returncode == 143, p.returncode
    return "exit 143 %.2fs after SIGTERM" % (time.monotonic() - t)


# ---- session mode ---------------------------------------------------------


class GuestError(Exception):
    """A FAIL record of a file operation: .code (WIRE_ERR_*) and .msg."""

    def __init__(self, code, msg):
        Exception.__init__(self, "%s: %s" % (code, msg))
        self.code, self.msg = code, msg


def file_stat(p):
    """FSTAT/FENTRY stat bytes: (type, mode, size, mtime_ms)."""
    t, mode, size, mtime = struct.unpack(">BIQq", p[:21])
    return chr(t), mode, size, mtime


class Session:
    """A guest started with --session in a fresh gVisor container, driven
    over `docker run -i` (the docker CLI demultiplexes the stream). Records
    are read incrementally; every method waits for its own answer."""

    def __init__(self, guest, image, workdir=None, mounts=(), name=None):
        self.name = name or "isobox-guest-check-%d-%d" % (
            os.getpid(), int(time.monotonic() * 1000))
        cmd = list(DOCKER_RUN) + ["--name", self.name, "--label",
                                  "isobox.test=guest"]
        for src, dst in mounts:
            cmd += ["-v", "%s:%s" % (src, dst)]
        cmd += ["-v", "%s:/.isobox/guest:ro" % os.path.abspath(guest), image,
                "/.isobox/guest", "--session"]
        if workdir:
            cmd += ["--workdir", workdir]
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        self.buf = b""
        self.ready = self.read_until(lambda t, i, p: t == READY)[-1][2]

    def send(self, data):
        self.p.stdin.write(data)
        self.p.stdin.flush()

    def next_record(self, timeout=30):
        """(type, id or None, payload); raises TimeoutError or EOFError."""
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 5:
                rtype, n = struct.unpack(">BI", self.buf[:5])
                if len(self.buf) >= 5 + n:
                    p = self.buf[5:5 + n]
                    self.buf = self.buf[5 + n:]
                    rid, p = split_id(rtype, p)
                    return rtype, rid, p
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no record from the guest in time")
            r, _, _ = select.select([self.p.stdout], [], [], left)
            if r:
                chunk = os.read(self.p.stdout.fileno(), 1 << 20)
                if not chunk:
                    raise EOFError("the guest's output ended")
                self.buf += chunk

    def read_until(self, pred, timeout=30):
        """Records up to and including the first that pred(type, id, p)."""
        out = []
        deadline = time.monotonic() + timeout
        while True:
            rec = self.next_record(max(0.01, deadline - time.monotonic()))
            out.append(rec)
            if pred(*rec):
                return out

    def job(self, job_id, timeout=60, **kw):
        """Run one job; its records only (others are stale and ignored) as
        a summary {stages, fail, done, display, stale}."""
        self.send(encode_job(job_id=job_id, **kw))
        return self.answer(job_id, timeout)

    def answer(self, job_id, timeout=60):
        recs = self.read_until(lambda t, i, p: t == DONE and i == job_id,
                               timeout)
        mine = b"".join(record(t, struct.pack(">I", i) + p)
                        for t, i, p in recs if i == job_id)
        job = summarize(mine)["jobs"][0]
        job["stale"] = [(t, i) for t, i, p in recs if i != job_id]
        return job

    def op(self, op_id, timeout=60):
        """Records of file operation op_id up to its DONE; GuestError on
        FAIL. Records of other ids are dropped."""
        recs = self.read_until(lambda t, i, p: t in (DONE, FAIL)
                               and i == op_id, timeout)
        recs = [(t, p) for t, i, p in recs if i == op_id]
        if recs[-1][0] == FAIL:
            raise GuestError(*fail_text(recs[-1][1]))
        return recs

    def put(self, op_id, path, data, mode=0o644, chunk=CHUNK_MAX, end=True):
        self.send(record(FPUT, struct.pack(">II", op_id, mode) +
                         path.encode()))
        for i in range(0, len(data), chunk):
            self.send(record(FDATA, struct.pack(">I", op_id) +
                             data[i:i + chunk]))
        if end:
            self.send(record(FEND, struct.pack(">I", op_id)))
            self.op(op_id)

    def get(self, op_id, path, offset=0, length=0):
        """(stat, bytes) of path from offset (length 0: to the end)."""
        self.send(record(FGET, struct.pack(">IQQ", op_id, offset, length) +
                         path.encode()))
        recs = self.op(op_id)
        st = [file_stat(p) for t, p in recs if t == FSTAT]
        assert len(st) == 1 and recs[0][0] == FSTAT, recs[:3]
        return st[0], b"".join(p for t, p in recs if t == FDATA)

    def list(self, op_id, path=""):
        """({name: stat}, truncated)."""
        self.send(record(FLIST, struct.pack(">I", op_id) + path.encode()))
        recs = self.op(op_id)
        ents = {p[21:].decode(): file_stat(p) for t, p in recs
                if t == FENTRY}
        return ents, bool(recs[-1][1] and recs[-1][1][0] & 1)

    def delete(self, op_id, path):
        self.send(record(FDEL, struct.pack(">I", op_id) + path.encode()))
        self.op(op_id)

    def sync(self, nonce=None):
        """SYNC; returns the records skipped before the matching SYNCED."""
        nonce = nonce or os.urandom(16)
        self.send(record(SYNC, nonce))
        recs = self.read_until(lambda t, i, p: t == SYNCED and p == nonce)
        return recs[:-1]

    def alive(self):
        return self.p.poll() is None

    def close(self, bye=True):
        """BYE (or just EOF), the guest's exit status; the container goes."""
        try:
            if bye and self.alive():
                self.send(record(BYE))
            self.p.stdin.close()
            self.p.wait(timeout=30)
        finally:
            subprocess.run(["docker", "rm", "-f", self.name],
                           capture_output=True)
            if self.p.poll() is None:
                self.p.kill()
                self.p.wait()
        return self.p.returncode


def session(g, i, **kw):
    return Session(g, i, **kw)


def s_jobs(g, i):
    """Several jobs with ids in one sandbox; state kept between them."""
    s = session(g, i)
    try:
        assert s.ready == VERSION.encode(), s.ready
        a = s.job(7, run_argv=["sh", "-c", "echo one > f; echo a"])
        b = s.job(8, run_argv=["sh", "-c", "cat f; echo b >&2; exit 4"])
        c = s.job(0xfffffffe, run_argv=["sh", "-c", "cat"], stdin=b"in")
        bad = s.job(9, run_argv=None)
        d = s.job(10, run_argv=["echo", "after"])
        assert a["stages"]["r"]["stdout"] == b"a\n", a
        assert a["id"] == 7 and a["done"], a
        assert b["stages"]["r"]["stdout"] == b"one\n", b
        assert b["stages"]["r"]["stderr"] == b"b\n", b
        assert b["stages"]["r"]["result"]["exit"] == 4, b
        assert c["stages"]["r"]["stdout"] == b"in", c
        assert bad["fail_code"] == "bad_job" and bad["done"], bad
        assert "RUN" in bad["fail"], bad
        assert d["stages"]["r"]["stdout"] == b"after\n", d
        assert s.alive()
    finally:
        rc = s.close()
    assert rc == 0, rc
    return "5 jobs (one refused) in one sandbox; BYE -> exit 0"


def s_sync(g, i):
    """SYNC after garbage and after a partial record; the padding rule."""
    s = session(g, i)
    try:
        # Garbage: an unknown type, then an oversize length.
        s.send(b"\xff\x00\x00\x00\x01z" + b"Z\x7f\xff\xff\xff" + b"junk")
        s.sync()
        assert s.job(1, run_argv=["echo", "ok1"])["stages"]["r"][
            "stdout"] == b"ok1\n"
        # A half-sent job and a half-sent record: SYNC drops the job.
        half = encode_job(job_id=2, run_argv=["echo", "never"], go=False)
        s.send(half + record(STDIN, b"x" * 1000)[:600])
        s.send(b"\0" * PAD_LEN)
        skipped = s.sync()
        assert not [r for r in skipped if r[0] in (OUT, RESULT)], skipped
        r = s.job(3, run_argv=["echo", "ok3"])
        assert r["stages"]["r"]["stdout"] == b"ok3\n", r
        # A partial header; padding then SYNC with 1-4 stray zeros.
        for cut in (1, 2, 3, 4):
            s.send(record(FDATA, b"\0\0\0\x09" + b"d" * 100)[:cut])
            s.send(b"\0" * (PAD_LEN + cut))
            s.sync()
        # GO of the dropped job never runs it: a GO alone is refused.
        s.send(record(GO))
        orphan = s.answer(0)
        assert orphan["fail_code"] == "bad_job" and not orphan["stages"], \
            orphan
        r = s.job(4, run_argv=["echo", "ok4"])
        assert r["stages"]["r"]["stdout"] == b"ok4\n", r
        assert not r["stale"], r
    finally:
        s.close()
    return "garbage, half job, partial headers: resynchronised"


def s_interrupt(g, i):
    s = session(g, i)
    try:
        s.send(encode_job(job_id=5, run_argv=["sleep", "100"],
                          limits={"run_wall_ms": 60000}))
        time.sleep(1.0)
        t = time.monotonic()
        s.send(record(INTR, struct.pack(">I", 4)))      # not running: ignored
        s.send(record(INTR, struct.pack(">I", 5)))
        r = s.answer(5, timeout=20)
        took = time.monotonic() - t
        res = r["stages"]["r"]["result"]
        assert res["signal"] == 2 and res["exit"] == 130, res
        assert res["timed_out"] == 0, res
        assert took < 5, took
        n = s.job(6, run_argv=["echo", "alive"])
        assert n["stages"]["r"]["stdout"] == b"alive\n", n
    finally:
        s.close()
    return "SIGINT %s after %.2fs; the next job runs" % (res, took)


def s_leftover(g, i):
    """A child that keeps writing after its job ended is gone by the next."""
    s = session(g, i)
    try:
        a = s.job(1, run_argv=["sh", "-c", "(while :; do echo late; "
                               "echo late >&2; sleep 0.02; done) & "
                               "setsid sh -c 'while :; do echo x >> f; "
                               "sleep 0.02; done' & sleep 0.3; echo started"])
        assert b"started\n" in a["stages"]["r"]["stdout"], a
        time.sleep(0.5)
        b = s.job(2, run_argv=["sh", "-c", "echo /proc/[0-9]*; sleep 0.3;"
                               " echo next"])
        out = b["stages"]["r"]
        assert b"late" not in out["stdout"] + out["stderr"], out
        assert out["stdout"].split(b"\n")[1] == b"next", out
        assert out["stdout"].count(b"/proc/") == 2, out  # guest, this sh
        assert not b["stale"], b
        _, f1 = s.get(3, "f")
        assert f1.startswith(b"x\n"), f1
        time.sleep(0.3)
        _, f2 = s.get(4, "f")
        assert f1 == f2, (len(f1), len(f2))
    finally:
        s.close()
    return "leftovers killed: %r" % bytes(out["stdout"])


def s_files(g, i):
    """put/get/list/delete round trip; 5 MiB in pieces; range reads."""
    s = session(g, i)
    try:
        big = os.urandom(5 * 1024 * 1024 + 123)
        s.put(1, "data/big.bin", big)
        s.put(2, "data/small.txt", b"hello", mode=0o600)
        s.put(3, "top.sh", b"#!/bin/sh\necho ran\n", mode=0o755)
        st, back = s.get(4, "data/big.bin")
        assert back == big and st[0] == "f" and st[2] == len(big), st
        st, part = s.get(5, "data/big.bin", 1000000, 70000)
        assert part == big[1000000:1070000], len(part)
        _, tail = s.get(6, "data/big.bin", len(big) - 10, 100)
        assert tail == big[-10:], tail
        _, none = s.get(7, "data/big.bin", len(big) + 5, 10)
        assert none == b"", none
        ents, trunc = s.list(8, "data")
        assert not trunc and set(ents) == {"big.bin", "small.txt"}, ents
        assert ents["small.txt"][1] == 0o600, ents
        assert ents["big.bin"][2] == len(big), ents
        top, _ = s.list(9)
        assert top["data"][0] == "d" and top["top.sh"][1] == 0o755, top
        r = s.job(10, run_argv=["sh", "-c", "./top.sh || sh top.sh; "
                                "stat -c '%u %a %s' data/small.txt;"
                                " sha256sum data/big.bin"])
        out = r["stages"]["r"]["stdout"].decode()
        assert "ran\n" in out and "65534 600 5\n" in out, out
        import hashlib
        assert hashlib.sha256(big).hexdigest() in out, out
        # Overwrite is atomic: replace, then an abandoned upload leaves
        # neither a half file nor a temporary one.
        s.put(11, "data/small.txt", b"second")
        s.put(12, "data/small.txt", b"third-half", end=False)
        s.sync()
        assert s.get(13, "data/small.txt")[1] == b"second"
        ents, _ = s.list(14, "data")
        assert set(ents) == {"big.bin", "small.txt"}, ents
        s.delete(15, "data")
        for op, path in ((16, "data/big.bin"), (17, "data")):
            try:
                s.get(op, path)
                raise AssertionError("%s still there" % path)
            except GuestError as e:
                assert e.code == "not_found", e
        errs = {}
        for op, call in ((18, lambda o: s.get(o, "top.sh/x")),
                         (19, lambda o: s.get(o, "")),
                         (20, lambda o: s.get(o, "../etc/passwd")),
                         (21, lambda o: s.list(o, "top.sh")),
                         (22, lambda o: s.delete(o, "nope")),
                         (23, lambda o: s.put(o, "a/../b", b"x"))):
            try:
                call(op)
                raise AssertionError("op %d succeeded" % op)
            except GuestError as e:
                errs[op] = e.code
        assert errs == {18: "not_a_directory", 19: "invalid_path",
                        20: "invalid_path", 21: "not_a_directory",
                        22: "not_found", 23: "invalid_path"}, errs
    finally:
        s.close()
    return "5 MiB round trip, ranges, atomic replace, errors %s" % errs


def s_symlinks(g, i):
    """Links and FIFOs planted by a job are refused, never followed."""
    s = session(g, i)
    try:
        r = s.job(1, run_argv=["sh", "-c",
                               "ln -s /etc/passwd pw; ln -s /etc etc;"
                               " ln -s /tmp tmpl; mkdir -p d/sub;"
                               " ln -s ../.. d/up; mkfifo fifo;"
                               " echo secret > /tmp/outside; echo ok"])
        assert r["stages"]["r"]["stdout"] == b"ok\n", r
        codes = {}
        for op, (what, path) in enumerate([
                ("get", "pw"), ("get", "etc/passwd"), ("get", "fifo"),
                ("get", "tmpl/outside"), ("get", "d/up/etc/passwd"),
                ("list", "etc"), ("list", "d/up"), ("put", "tmpl/new"),
                ("put", "etc/new"), ("put", "d/up/x"), ("del", "tmpl/outside"),
                ("put", "pw")], start=100):
            try:
                if what == "get":
                    s.get(op, path)
                elif what == "list":
                    s.list(op, path)
                elif what == "put":
                    if path == "pw":
                        continue
                    s.put(op, path, b"x")
                else:
                    s.delete(op, path)
                raise AssertionError("%s %s succeeded" % (what, path))
            except GuestError as e:
                codes[path] = e.code
        assert codes["fifo"] == "not_regular", codes
        for p, c in codes.items():
            if p != "fifo":
                assert c == "symlink", codes
        # Replacing the link itself is fine: the link goes, /etc stays.
        s.put(200, "pw", b"mine")
        assert s.get(201, "pw")[1] == b"mine"
        # Deleting a tree that holds links removes the links only.
        s.delete(202, "d")
        r = s.job(2, run_argv=["sh", "-c", "cat /tmp/outside; "
                               "head -c 5 /etc/passwd; echo; ls"])
        out = r["stages"]["r"]["stdout"]
        assert out.startswith(b"secret\nroot:"), out
        assert b"\nd\n" not in out and b"tmpl" in out, out
    finally:
        s.close()
    return "refused: %s" % codes


def s_workdir(g, i):
    """--workdir: jobs run there and files land there."""
    s = session(g, i, workdir="/tmp")
    try:
        s.put(1, "w.txt", b"in tmp")
        r = s.job(2, run_argv=["sh", "-c", "pwd; cat w.txt"])
        assert r["stages"]["r"]["stdout"] == b"/tmp\nin tmp", r
    finally:
        s.close()
    return "cwd and files in /tmp"


def s_oneshot_unchanged(g, i):
    """Without --session: one job and exit; session records are refused."""
    s, rc, _, _ = docker_run(encode_job(job_id=42, run_argv=["echo", "hi"]),
                             g, i)
    j = one(s)
    assert s["jobs"][0]["id"] == 42 and j["stdout"] == b"hi\n", s
    assert rc == 0, rc
    s, rc, _, _ = docker_run(record(FLIST, b"\0\0\0\1"), g, i)
    assert s["jobs"][0]["fail"] and rc == 2, s
    return "one job with id 42; FLIST refused (%s)" % s["jobs"][0]["fail"]


SESSION_CHECKS = [s_jobs, s_sync, s_interrupt, s_leftover, s_files,
                  s_symlinks, s_workdir, s_oneshot_unchanged]


CHECKS = [c_hello, c_stdin, c_big_stdin, c_exit3, c_identity, c_env,
          c_truncate, c_timeout, c_background, c_forkbomb, c_stopped,
          c_throughput, c_bad_name, c_protocol, c_compile, c_files,
          c_exec_box, c_symlink, c_proc1, c_loop, c_sigterm] + SESSION_CHECKS


def check(a):
    bad = 0
    for c in CHECKS:
        name = c.__name__[2:] if c.__name__.startswith("c_") else \
            "session_" + c.__name__[2:]
        if a.k and not any(k in name for k in a.k):
            continue
        t = time.monotonic()
        try:
            info = c(a.guest, a.image)
            print("PASS %-10s %5.1fs %s" % (name, time.monotonic() - t,
                                            info))
        except Exception as e:  # report every check, then fail overall
            bad += 1
            print("FAIL %-10s %r" % (name, e))
    left = subprocess.run(["docker", "ps", "-aq", "--filter",
                           "name=isobox-guest-check"], capture_output=True,
                          text=True).stdout.split()
    if left:
        print("FAIL containers left behind: %s" % left)
        bad += 1
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("encode", "run"):
        p = sub.add_parser(name)
        p.add_argument("--file", action="append", default=[])
        p.add_argument("--file-from", action="append", default=[])
        p.add_argument("--env", action="append", default=[])
        p.add_argument("--compile")
        p.add_argument("--run")
        p.add_argument("--stdin", default="")
        p.add_argument("--limit", action="append", default=[])
        if name == "run":
            p.add_argument("--guest", default="/tmp/isobox-guest")
            p.add_argument("--image", default="isobox-test:py")
    p = sub.add_parser("decode")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("check")
    p.add_argument("--guest", default="/tmp/isobox-guest")
    p.add_argument("--image", default="isobox-test:py")
    p.add_argument("-k", action="append", default=[])
    p.add_argument("--box-opts", help="tmpfs options of /box, e.g. "
                   "size=64m,mode=0755,uid=65534,gid=65534,exec")
    a = ap.parse_args()
    if getattr(a, "box_opts", None):
        DOCKER_RUN[DOCKER_RUN.index("/box:size=64m,mode=0755")] = \
            "/box:" + a.box_opts
    if a.cmd == "encode":
        sys.stdout.buffer.write(job_from_args(a))
    elif a.cmd == "decode":
        data = sys.stdin.buffer.read()
        if a.json:
            print(json.dumps(printable(summarize(data)), indent=1))
        else:
            for t, p in decode(data):
                print(NAMES.get(t, t), repr(p))
    elif a.cmd == "run":
        s, rc, err, el = docker_run(job_from_args(a), a.guest, a.image)
        print(json.dumps(printable(s), indent=1))
        print("exit %d, %.2fs; guest stderr: %r" % (rc, el, err),
              file=sys.stderr)
    else:
        return check(a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
