"""The second wall: Docker's default seccomp profile enforced inside gVisor.

runsc's --oci-seccomp (set on both runtimes by scripts/setup-host) applies
the OCI spec's seccomp profile to every task in the sandbox, in front of the
Sentry. isobox sends no seccomp option (src/spec.c), so the profile is
Docker's default, built for the container's capabilities (none the program
keeps): unshare, mount, keyctl, bpf, perf_event_open, userfaultfd and the
rest below never reach gVisor's kernel code.

Each class is probed from a python ctypes program and from a C program run
through /execute, and must be refused with EPERM. The same probe run by
gVisor alone (the service's runtime, but seccomp=unconfined, so runsc has
no filter to load) shows what the layer adds: there unshare of a user or
mount namespace, syslog and PTRACE_TRACEME succeed and several others fail
differently, i.e. reach the Sentry.

docker.runtime is read from $ISOBOX_CONFIG (default /etc/isobox/isobox.yaml).
"""
import json
import os
import subprocess

import pytest
import yaml

from conftest import COLD, run_code, run_cold  # noqa: F401 (re-exported helpers)

# name -> (syscall number on x86_64, arguments). Arguments are harmless: a
# refused call must be refused by the filter, an allowed one does nothing
# that outlives the probe.
CLASSES = {
    "unshare-user": (272, [0x10000000]),          # CLONE_NEWUSER
    "unshare-mount": (272, [0x00020000]),         # CLONE_NEWNS
    "unshare-net": (272, [0x40000000]),
    "setns": (308, [-1, 0]),
    "mount": (165, [0, 0, 0, 0, 0]),
    "umount2": (166, [0, 2]),
    "pivot_root": (155, [0, 0]),
    "chroot": (161, [0]),
    "keyctl": (250, [0, -3, 1]),                  # KEYCTL_GET_KEYRING_ID
    "add_key": (248, [0, 0, 0, 0, -3]),
    "request_key": (249, [0, 0, 0, 0]),
    "bpf": (321, [0, 0, 0]),                      # BPF_MAP_CREATE
    "perf_event_open": (298, [0, 0, -1, -1, 0]),
    "userfaultfd": (323, [0]),
    "ptrace-attach-pid1": (101, [16, 1, 0, 0]),   # PTRACE_ATTACH to the guest
    "process_vm_readv": (310, [1, 0, 0, 0, 0, 0]),
    "personality-read-implies-exec": (135, [0x0400000]),
    "personality-addr-no-randomize": (135, [0x0040000]),
    "kexec_load": (246, [0, 0, 0, 0]),
    "init_module": (175, [0, 0, 0]),
    "finit_module": (313, [-1, 0, 0]),
    "delete_module": (176, [0, 0]),
    "open_by_handle_at": (304, [-1, 0, 0]),
    "name_to_handle_at": (303, [-100, 0, 0, 0, 0]),
    "syslog": (103, [3, 0, 0]),                   # SYSLOG_ACTION_READ_ALL
    "acct": (163, [0]),
    "swapon": (167, [0, 0]),
    "reboot": (169, [0, 0, 0, 0]),
    "settimeofday": (164, [0, 0]),
    "clock_settime": (227, [0, 0]),
    "iopl": (172, [3]),
    "ioperm": (173, [0, 1024, 1]),
    "quotactl": (179, [0, 0, 0, 0]),
    "lookup_dcookie": (212, [0, 0, 0]),
    "move_pages": (279, [0, 0, 0, 0, 0, 0]),
    "fsopen": (430, [0, 0]),
    "vhangup": (153, []),
}

# What gVisor alone answers for these (measured on runsc 20221219): the
# call reaches the Sentry and succeeds. The filter turns each into EPERM.
GVISOR_ALONE_SUCCEEDS = ("unshare-user", "unshare-mount", "syslog")

PROBE_PY = r'''
import ctypes, errno, json, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
out = {}
for name, (nr, args) in json.loads(sys.argv[1] if len(sys.argv) > 1 else CLASSES).items():
    ctypes.set_errno(0)
    rc = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    e = ctypes.get_errno()
    out[name] = "ok" if rc >= 0 else errno.errorcode.get(e, str(e))
st = open("/proc/self/status").read()
out["_seccomp"] = [l.split(":", 1)[1].strip() for l in st.splitlines() if l.startswith("Seccomp:")]
print(json.dumps(out))
'''


def probe_code():
    return "CLASSES = %r\n%s" % (json.dumps(CLASSES), PROBE_PY)


@pytest.fixture(scope="module")
def filtered():
    """The probe's answers through /execute (the service's sandbox)."""
    run = run_code("python", probe_code())
    assert run["exitCode"] == 0, run
    return json.loads(run["stdout"])


def service_runtime():
    path = os.environ.get("ISOBOX_CONFIG", "/etc/isobox/isobox.yaml")
    with open(path) as f:
        cfg = yaml.safe_load(f) or {}
    return (cfg.get("docker") or {}).get("runtime") or "runsc-isobox"


def docker(*args, timeout=120):
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def gvisor_alone():
    """The same probe under the service's runtime with seccomp=unconfined
    (so runsc loads no filter) and otherwise the service's hardening."""
    rt = service_runtime()
    info = docker("info", "--format", "{{json .Runtimes}}")
    if info.returncode != 0:
        pytest.skip(f"docker CLI unavailable: {info.stderr.strip()}")
    args = (json.loads(info.stdout).get(rt) or {}).get("runtimeArgs") or []
    assert "--oci-seccomp" in args, f"runtime {rt} lacks --oci-seccomp ({args}): run scripts/setup-host"
    img = docker("images", "-q", "isobox/python:latest").stdout.split()
    if not img:
        pytest.skip("no isobox/python image")
    r = docker("run", "--rm", "-i", "--label", "isobox.test=seccomp", "--runtime", rt,
               "--network", "none", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
               "--security-opt", "seccomp=unconfined", "--user", "65534:65534",
               "--read-only", img[0], "python3", "-c", probe_code())
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_filter_is_installed(filtered):
    """Every program in the sandbox runs in seccomp filter mode (2)."""
    assert filtered["_seccomp"] == ["2"], filtered


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_class_refused(filtered, name):
    """Each class is refused by the filter with EPERM, before gVisor."""
    assert filtered[name] == "EPERM", f"{name}: {filtered[name]} (all: {filtered})"


def test_gvisor_alone_lets_them_through(gvisor_alone, filtered):
    """Without the filter the Sentry serves them: the layer adds something."""
    assert gvisor_alone["_seccomp"] == ["0"], gvisor_alone
    for name in GVISOR_ALONE_SUCCEEDS:
        assert gvisor_alone[name] == "ok", f"{name} without the filter: {gvisor_alone[name]}"
    differ = sorted(n for n in CLASSES if gvisor_alone[n] != filtered[n])
    assert len(differ) >= 20, f"only {differ} differ: {gvisor_alone}"


C_PROBE = r'''
#include <errno.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

static void probe(const char *name, long rc)
{
	printf("%s %d\n", name, rc < 0 ? errno : 0);
}

int main(void)
{
	probe("unshare-user", syscall(SYS_unshare, 0x10000000L));
	probe("keyctl", syscall(SYS_keyctl, 0L, -3L, 1L));
	probe("bpf", syscall(SYS_bpf, 0L, 0L, 0L));
	probe("perf_event_open", syscall(SYS_perf_event_open, 0L, 0L, -1L, -1L, 0L));
	probe("userfaultfd", syscall(SYS_userfaultfd, 0L));
	probe("ptrace-attach-pid1", syscall(SYS_ptrace, 16L, 1L, 0L, 0L));
	probe("mount", syscall(SYS_mount, "none", "/tmp", "tmpfs", 0L, 0L));
	probe("kexec_load", syscall(SYS_kexec_load, 0L, 0L, 0L, 0L));
	probe("init_module", syscall(SYS_init_module, 0L, 0L, ""));
	return 0;
}
'''


def test_c_program_refused():
    """The same wall for native code issuing raw system calls."""
    run = run_code("c", C_PROBE)
    assert run["exitCode"] == 0, run
    got = dict(line.split(" ", 1) for line in run["stdout"].splitlines())
    assert len(got) == 9, run
    for name, res in got.items():
        assert res == "1", f"{name}: errno {res}, not EPERM ({got})"
