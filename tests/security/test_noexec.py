"""Scratch space is not an exec area, except where the catalogue says so.

Every language whose catalogue entry has no `tmpfs_exec` gets /box and /tmp
mounted noexec: a dropped binary cannot be executed, a dropped shared
library cannot be loaded, and a file cannot be mapped executable. The
languages are taken from GET /runtimes (compiled ones are the ones with
`tmpfs_exec` in registry/languages.yaml), so a new interpreted language is
covered without touching this file -- and a compiled one is checked to get
exec-able scratch space only because its compile stage needs it.
"""
import os

import pytest
import yaml

from conftest import run_ok

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Drops /bin/true and a copy of libm into /box and /tmp and tries to run,
# load and map them; prints one "path verdict" line per attempt.
PROBE = r'''
import ctypes, errno, mmap, os, shutil, subprocess
libm = next(p for p in ("/usr/lib/x86_64-linux-gnu/libm.so.6", "/lib/x86_64-linux-gnu/libm.so.6")
            if os.path.exists(p))
for d in ("/box", "/tmp", "/dev/shm"):
    exe, lib = d + "/t", d + "/libx.so"
    try:
        shutil.copy("/bin/true", exe); os.chmod(exe, 0o755); shutil.copy(libm, lib)
    except OSError as e:
        print(d, "nowrite", e.errno); continue
    try:
        print(d, "exec", subprocess.run([exe]).returncode)
    except OSError as e:
        print(d, "exec-refused", e.errno)
    try:
        ctypes.CDLL(lib); print(d, "dlopen", "ok")
    except OSError as e:
        print(d, "dlopen-refused", str(e)[:60].replace(" ", "_"))
    with open(lib, "rb") as f:
        try:
            m = mmap.mmap(f.fileno(), 4096, prot=mmap.PROT_READ | mmap.PROT_EXEC)
            m.close(); print(d, "mmap-exec", "ok")
        except OSError as e:
            print(d, "mmap-exec-refused", e.errno)
for line in open("/proc/mounts"):
    f = line.split()
    if f[1] in ("/box", "/tmp"):
        print(f[1], "mount", "noexec" if "noexec" in f[3].split(",") else "exec")
'''


def catalogue():
    with open(os.path.join(REPO, "registry", "languages.yaml"), encoding="utf-8") as f:
        return {e["name"]: e for e in yaml.safe_load(f)["languages"]}


def verdicts(stdout):
    out = {}
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2:
            out.setdefault(parts[0], {})[parts[1]] = parts[2] if len(parts) > 2 else ""
    return out


def probe_python():
    doc = run_ok({"language": "python", "code": PROBE, "limits": {"wallTimeMs": 10000}},
                 timeout=120)
    run = doc["run"]
    assert run["exitCode"] == 0, run
    return verdicts(run["stdout"]), run["stdout"]


def test_dropped_binaries_cannot_be_executed():
    """Python's entry has no tmpfs_exec: /box and /tmp are mounted noexec and
    execve of a dropped copy of /bin/true fails with EACCES there and in
    /dev/shm."""
    assert not catalogue()["python"].get("tmpfs_exec"), "the probe needs noexec scratch"
    v, out = probe_python()
    for d in ("/box", "/tmp", "/dev/shm"):
        got = v.get(d, {})
        assert "exec" not in got and got.get("exec-refused") == "13", (d, out)
    assert v["/box"]["mount"] == "noexec" and v["/tmp"]["mount"] == "noexec", out


@pytest.mark.xfail(strict=True, reason=(
    "gVisor (runsc 2022) does not apply noexec to mmap(PROT_EXEC): a library "
    "dropped in /box can be dlopen()ed. Not a boundary: the same code may "
    "already map anonymous executable memory (JIT runtimes need it), so "
    "noexec only stops execve of dropped files (THREAT_MODEL.md)."))
def test_dropped_libraries_cannot_be_mapped_executable():
    v, out = probe_python()
    for d in ("/box", "/tmp", "/dev/shm"):
        got = v.get(d, {})
        assert "dlopen-refused" in got and "mmap-exec-refused" in got, (d, out)


def test_only_compiled_languages_may_have_exec_scratch_space(runtimes):
    """The catalogue policy behind the mount flags: tmpfs_exec only on
    entries with a compile stage (a compiler writing a binary), and every
    such entry served by the running service."""
    names = [rt["language"] for rt in runtimes]
    for name, e in catalogue().items():
        if e.get("tmpfs_exec"):
            assert e.get("compile"), f"{name}: tmpfs_exec without a compile stage"
        assert name in names, f"{name} is in the catalogue but not served"


def test_compiled_languages_get_exec_scratch_space_only_for_their_program():
    """A compiled language (C, tmpfs_exec) gets exec-able /box and /tmp, so
    the program it built can run; the flags follow the catalogue entry."""
    doc = run_ok({"language": "c", "code":
                  '#include <stdio.h>\n#include <stdlib.h>\n'
                  'int main(void){return system("grep -E \' /(box|tmp) \' /proc/mounts");}\n'},
                 timeout=120)
    assert doc["compile"]["exitCode"] == 0, doc["compile"]
    out = doc["run"]["stdout"]
    for line in out.splitlines():
        opts = line.split()[3].split(",")
        assert "noexec" not in opts, line
    assert len(out.splitlines()) == 2, out
