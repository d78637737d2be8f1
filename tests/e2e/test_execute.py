"""POST /execute end to end: languages, I/O, limits, result signals, the
sandbox's hardening as seen from inside, and isolation between runs."""
import base64
import hashlib
import json
import os
import re
import threading

import pytest

from conftest import (MiB, TiB, execute, healthz_ok, run_code, run_ok,
                      strict_json)

HELLO = {
    "python": 'print("hello, world")',
    "python-slim": 'print("hello, world")',
    "javascript": 'console.log("hello, world")',
    "bash": 'echo "hello, world"',
}

ECHO_STDIN = {
    "python": "import sys\nsys.stdout.write(sys.stdin.read())",
    "python-slim": "import sys\nsys.stdout.write(sys.stdin.read())",
    "javascript": "process.stdin.pipe(process.stdout)",
    "bash": "cat",
}

PRINT_ARGS = {
    "python": "import sys\nfor a in sys.argv[1:]: print(a)",
    "javascript": "for (const a of process.argv.slice(2)) console.log(a)",
    "bash": 'for a in "$@"; do printf "%s\\n" "$a"; done',
}


def assert_clean_exit(run):
    assert run["exitCode"] == 0, run
    assert run["signal"] is None, run
    assert not run["timedOut"] and not run["oomKilled"] and not run["truncated"], run


# ---------------------------------------------------------------- languages

@pytest.mark.parametrize("language", sorted(HELLO))
def test_hello_world(language):
    doc = run_ok({"language": language, "code": HELLO[language]})
    assert doc["language"] == language
    assert isinstance(doc["version"], str) and doc["version"]
    assert doc.get("compile") is None, "interpreted language has a compile stage"
    run = doc["run"]
    assert run["stdout"] == "hello, world\n", run
    assert run["stderr"] == "", run
    assert_clean_exit(run)


@pytest.mark.parametrize("alias,canonical", [
    ("py", "python"), ("python3", "python"), ("js", "javascript"), ("sh", "bash")])
def test_alias_resolves(alias, canonical):
    code = HELLO[canonical]
    doc = run_ok({"language": alias, "code": code})
    assert doc["language"] == canonical
    assert doc["run"]["stdout"] == "hello, world\n"


def test_language_at_version(runtimes):
    py = [rt for rt in runtimes if rt["language"] == "python"]
    assert py, runtimes
    v = py[0]["version"]
    doc = run_ok({"language": f"python@{v}", "code": "print(2)"})
    assert doc["language"] == "python" and doc["version"] == v
    doc = run_ok({"language": "python", "version": v, "code": "print(2)"})
    assert doc["version"] == v and doc["run"]["stdout"] == "2\n"


# ---------------------------------------------------------------- stdin, args

@pytest.mark.parametrize("language", sorted(ECHO_STDIN))
def test_stdin_echoed(language):
    data = "first line\nsecond  line with  spaces\n\u00e9\u00e8 \u65e5\u672c\nno newline at end"
    run = run_code(language, ECHO_STDIN[language], stdin=data)
    assert run["stdout"] == data
    assert_clean_exit(run)


def test_stdin_absent_is_eof():
    # A program reading stdin when none was given must see EOF, not hang.
    run = run_code("python", "import sys\nprint(repr(sys.stdin.read()))",
                   limits={"wallTimeMs": 5000})
    assert run["stdout"] == "''\n", run
    assert_clean_exit(run)


def test_large_stdin_intact():
    data = "".join(f"{i:07d} abcdefghijklmnopqrstuvwxyz\n" for i in range(30000))
    assert len(data) > 900_000
    code = ("import sys, hashlib\nb = sys.stdin.buffer.read()\n"
            "print(len(b), hashlib.sha256(b).hexdigest())")
    run = run_code("python", code, stdin=data)
    want = f"{len(data)} {hashlib.sha256(data.encode()).hexdigest()}\n"
    assert run["stdout"] == want
    assert_clean_exit(run)


@pytest.mark.parametrize("language", sorted(PRINT_ARGS))
def test_args_in_order(language):
    args = ["a", "b c", "", "--flag=1", "\u00fc\u00f1\u00ee", "$HOME", "*", "-"]
    run = run_code(language, PRINT_ARGS[language], args=args)
    assert run["stdout"] == "".join(a + "\n" for a in args), run
    assert_clean_exit(run)


# ---------------------------------------------------------------- files

def test_multi_file_python():
    files = [
        {"name": "app.py", "content":
            "import helper\nfrom pkg import mod\n"
            "print(helper.greet('x'), mod.twice(21))\n"
            "print(open('pkg/data.txt').read().strip())\n"
            "import __main__, os\nprint(os.path.basename(__main__.__file__))\n"},
        {"name": "helper.py", "content": "def greet(n):\n    return 'hi ' + n\n"},
        {"name": "pkg/mod.py", "content": "def twice(x):\n    return 2 * x\n"},
        {"name": "pkg/data.txt", "content": "data file ok\n"},
    ]
    doc = run_ok({"language": "python", "files": files})
    run = doc["run"]
    assert run["stdout"] == "hi x 42\ndata file ok\napp.py\n", run
    assert_clean_exit(run)


def test_file_encodings():
    blob = bytes(range(256)) * 4
    files = [
        {"name": "main.py", "content":
            "import hashlib\n"
            "for n in ('b64.bin', 'hex.bin', 'utf.txt'):\n"
            "    print(n, hashlib.sha256(open(n, 'rb').read()).hexdigest())\n"},
        {"name": "b64.bin", "content": base64.b64encode(blob).decode(), "encoding": "base64"},
        {"name": "hex.bin", "content": blob.hex(), "encoding": "hex"},
        {"name": "utf.txt", "content": "\u00e9\u2713", "encoding": "utf8"},
    ]
    run = run_ok({"language": "python", "files": files})["run"]
    h = hashlib.sha256(blob).hexdigest()
    u = hashlib.sha256("\u00e9\u2713".encode()).hexdigest()
    assert run["stdout"] == f"b64.bin {h}\nhex.bin {h}\nutf.txt {u}\n", run


def test_sixty_four_files_accepted():
    files = [{"name": "main.py", "content":
              "import os\nprint(len([f for f in os.listdir('d')]))"}]
    files += [{"name": f"d/f{i}.txt", "content": str(i)} for i in range(63)]
    run = run_ok({"language": "python", "files": files})["run"]
    assert run["stdout"] == "63\n", run


def test_name_of_255_bytes_accepted():
    name = "n" * 252 + ".py"
    assert len(name.encode()) == 255
    files = [{"name": "main.py", "content": "import os\nprint(len(os.listdir('.')))"},
             {"name": name, "content": "x = 1\n"}]
    run = run_ok({"language": "python", "files": files})["run"]
    assert run["stdout"] == "2\n", run


# ---------------------------------------------------------------- exit codes

@pytest.mark.parametrize("code,status", [("import sys\nsys.exit(0)", 0),
                                         ("import sys\nsys.exit(3)", 3)])
def test_exit_codes(code, status):
    run = run_code("python", code)
    assert run["exitCode"] == status and run["signal"] is None, run
    assert not run["timedOut"] and not run["oomKilled"]


def test_uncaught_exception():
    run = run_code("python", "def f():\n    return 1 / 0\nf()\n")
    assert run["exitCode"] == 1, run
    assert "Traceback (most recent call last)" in run["stderr"], run
    assert "ZeroDivisionError" in run["stderr"], run
    assert run["signal"] is None


@pytest.mark.parametrize("sig,name", [(9, "SIGKILL"), (15, "SIGTERM")])
def test_killed_by_signal(sig, name):
    run = run_code("python", f"import os\nprint('x', flush=True)\nos.kill(os.getpid(), {sig})")
    assert run["exitCode"] == 128 + sig, run
    assert run["signal"] == name, run
    assert not run["timedOut"] and not run["oomKilled"], run
    assert run["stdout"] == "x\n"


def test_bash_exit_code():
    run = run_code("bash", "echo out; echo err >&2; exit 7")
    assert (run["stdout"], run["stderr"], run["exitCode"]) == ("out\n", "err\n", 7), run


def test_javascript_exception():
    run = run_code("javascript", "throw new Error('boom')")
    assert run["exitCode"] != 0, run
    assert "boom" in run["stderr"], run


# ---------------------------------------------------------------- batteries

def test_python_batteries():
    code = (
        "import numpy, pandas, requests, httpx, bs4, lxml, lxml.etree\n"
        "import numpy as np, pandas as pd\n"
        "print(int(np.arange(10).sum()))\n"
        "print(int(pd.DataFrame({'a': [1, 2, 3]})['a'].sum()))\n"
        "print(bs4.BeautifulSoup('<p>ok</p>', 'lxml').p.text)\n"
    )
    run = run_code("python", code, limits={"wallTimeMs": 20000, "memoryBytes": 512 * MiB})
    assert run["stdout"] == "45\n6\nok\n", run
    assert_clean_exit(run)


# ---------------------------------------------------------------- identity, privileges

def test_uid_is_nobody():
    run = run_code("bash", "id -u; id -g")
    assert run["stdout"].split("\n")[0] == "65534", run
    run = run_code("python", "import os\nprint(os.getuid(), os.geteuid())")
    assert run["stdout"] == "65534 65534\n", run


def test_no_capabilities_and_no_new_privs():
    code = (
        "import ctypes\n"
        "st = dict(l.split(':\\t', 1) for l in open('/proc/self/status').read().splitlines() if ':\\t' in l)\n"
        "for k in ('CapInh', 'CapPrm', 'CapEff', 'CapAmb'):\n"
        "    print(k, st.get(k, '-').strip())\n"
        "print('NoNewPrivs', st.get('NoNewPrivs', '-').strip())\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "print('prctl', libc.prctl(39, 0, 0, 0, 0))\n"  # PR_GET_NO_NEW_PRIVS
    )
    run = run_code("python", code)
    out = dict(l.split(" ", 1) for l in run["stdout"].splitlines())
    assert int(out["CapEff"], 16) == 0, out
    assert int(out["CapPrm"], 16) == 0, out
    if out["CapAmb"] != "-":
        assert int(out["CapAmb"], 16) == 0, out
    assert out["NoNewPrivs"] in ("1", "-"), out
    assert out["prctl"] == "1", f"no_new_privs not set: {out}"


def test_readonly_root_writable_box_and_tmp():
    code = (
        "import os\n"
        "for p in ('/x', '/usr/x', '/etc/x', '/box/ok', '/tmp/ok'):\n"
        "    try:\n"
        "        with open(p, 'w') as f: f.write('1')\n"
        "        print(p, 'written')\n"
        "    except OSError as e:\n"
        "        print(p, 'error', e.errno)\n"
        "print('cwd', os.getcwd())\n"
        "print('home', os.environ.get('HOME'))\n"
    )
    run = run_code("python", code)
    lines = dict(l.split(" ", 1) for l in run["stdout"].splitlines())
    for p in ("/x", "/usr/x", "/etc/x"):
        assert lines[p].startswith("error"), lines
    assert lines["/box/ok"] == "written", lines
    assert lines["/tmp/ok"] == "written", lines
    assert lines["cwd"] == "/box", lines
    assert lines["home"] == "/box", lines


def test_rootfs_mounted_read_only():
    # Even a process that had write permission could not write: the mount is ro.
    run = run_code("python", "for l in open('/proc/mounts'):\n"
                             "    d = l.split()\n"
                             "    if d[1] == '/': print(d[3])")
    opts = run["stdout"].strip().split("\n")[-1].split(",")
    assert "ro" in opts, run["stdout"]


def test_only_loopback_interface():
    code = (
        "import socket\n"
        "names = [l.split(':')[0].strip() for l in open('/proc/net/dev').read().splitlines()[2:]]\n"
        "print(sorted(names))\n"
        "print(sorted(n for _, n in socket.if_nameindex()))\n"
    )
    run = run_code("python", code)
    assert run["stdout"] == "['lo']\n['lo']\n", run


# MPLCONFIGDIR: set by the python catalogue entry (matplotlib cache in /tmp).
ENV_ALLOWED = {"PATH", "HOME", "LANG", "LC_ALL", "MPLBACKEND", "MPLCONFIGDIR", "PWD", "SHLVL",
               "_", "TERM", "OLDPWD"}
ENV_PREFIXES = ("PYTHON", "NODE_")


def _env_ok(k):
    return k in ENV_ALLOWED or k.startswith(ENV_PREFIXES)


@pytest.mark.parametrize("language,code", [
    ("python", "import os\nprint('\\n'.join(os.environ))"),
    ("javascript", "console.log(Object.keys(process.env).join('\\n'))"),
    ("bash", "compgen -e"),
])
def test_env_from_scratch(language, code):
    run = run_code(language, code)
    assert run["exitCode"] == 0, run
    keys = [k for k in run["stdout"].split("\n") if k]
    bad = sorted(k for k in keys if not _env_ok(k))
    assert not bad, f"unexpected environment variables in the sandbox: {bad} (all: {keys})"
    assert "PATH" in keys, keys


# ---------------------------------------------------------------- signals told apart

@pytest.mark.slow
def test_timeout():
    run = run_code("python", "import time\nprint('start', flush=True)\ntime.sleep(30)",
                   limits={"wallTimeMs": 2000})
    assert run["timedOut"] is True, run
    assert run["oomKilled"] is False, run
    assert run["stdout"] == "start\n", run
    assert 1800 <= run["durationMs"] <= 2000 + 1000, run


@pytest.mark.slow
def test_oom_killed():
    code = ("chunks = []\n"
            "for i in range(1024):\n"
            "    chunks.append(b'x' * (1 << 20))\n"
            "print('allocated 1 GiB')\n")
    doc = run_ok({"language": "python", "code": code,
                  "limits": {"memoryBytes": 64 * MiB, "wallTimeMs": 15000}})
    assert doc["limits"]["memoryBytes"] == 64 * MiB, doc["limits"]
    run = doc["run"]
    assert run["oomKilled"] is True, run
    assert run["timedOut"] is False, run
    assert "allocated 1 GiB" not in run["stdout"], run


@pytest.mark.slow
def test_fork_bomb_bounded():
    doc = run_ok({"language": "bash", "code": ":(){ :|:& };:",
                  "limits": {"pids": 16, "wallTimeMs": 5000}},
                 timeout=60)
    assert doc["limits"]["pids"] == 16, doc["limits"]
    run = doc["run"]
    assert run["oomKilled"] is False, run
    assert run["durationMs"] <= 5000 + 1000, run
    healthz_ok()
    again = run_code("python", "print('fine')")
    assert again["stdout"] == "fine\n"
    assert_clean_exit(again)


# ---------------------------------------------------------------- truncation

def test_truncation_buffered():
    doc = run_ok({"language": "python", "code": "print('x' * 100000)",
                  "limits": {"outputBytes": 1024}})
    assert doc["limits"]["outputBytes"] == 1024, doc["limits"]
    run = doc["run"]
    n = len(run["stdout"].encode()) + len(run["stderr"].encode())
    assert n == 1024, f"kept {n} bytes, want exactly 1024"
    assert run["stdout"] == "x" * 1024
    assert run["truncated"] is True, run


def test_truncation_counts_both_streams():
    code = ("import sys\n"
            "for i in range(2000):\n"
            "    sys.stdout.write('o' * 50 + '\\n'); sys.stdout.flush()\n"
            "    sys.stderr.write('e' * 50 + '\\n'); sys.stderr.flush()\n")
    run = run_code("python", code, limits={"outputBytes": 4096})
    n = len(run["stdout"].encode()) + len(run["stderr"].encode())
    assert n == 4096 and run["truncated"] is True, (n, run["truncated"])
    assert set(run["stdout"]) <= {"o", "\n"} and set(run["stderr"]) <= {"e", "\n"}


def test_truncation_stops_program():
    # After the cap the program is stopped: it must not run on to its end.
    code = ("import sys, time\n"
            "sys.stdout.write('x' * 5000); sys.stdout.flush()\n"
            "time.sleep(8)\n"
            "open('/box/never', 'w')\n"
            "print('reached the end')\n")
    run = run_code("python", code, limits={"outputBytes": 1024, "wallTimeMs": 15000})
    assert run["truncated"] is True, run
    assert "reached the end" not in run["stdout"]
    assert run["durationMs"] < 6000, f"program kept running after truncation: {run}"
    assert run["timedOut"] is False, run


def test_output_exactly_at_limit_not_truncated():
    run = run_code("python", "import sys\nsys.stdout.write('y' * 1000)",
                   limits={"outputBytes": 1024})
    assert run["stdout"] == "y" * 1000
    assert run["truncated"] is False, run
    assert_clean_exit(run)


# ---------------------------------------------------------------- clamping

def _slice_mem_cap():
    for p in ("/sys/fs/cgroup/memory/isobox.slice/memory.limit_in_bytes",
              "/sys/fs/cgroup/isobox.slice/memory.max"):
        try:
            v = open(p).read().strip()
        except OSError:
            continue
        if v != "max" and int(v) < (1 << 60):
            return int(v)
    return None


def test_clamp_memory_ceiling():
    doc = run_ok({"language": "python", "code": "print('ran')",
                  "limits": {"memoryBytes": 10 * TiB}})
    applied = doc["limits"]["memoryBytes"]
    assert 0 < applied < 10 * TiB, doc["limits"]
    host = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert applied <= host, f"applied memory {applied} > host RAM {host}"
    cap = _slice_mem_cap()
    if cap is not None:
        assert applied <= cap, f"applied memory {applied} > slice cap {cap}"
    assert doc["run"]["stdout"] == "ran\n"


def test_clamp_negative_wall_time():
    base = run_ok({"language": "bash", "code": "echo hi"})
    doc = run_ok({"language": "bash", "code": "echo hi",
                  "limits": {"wallTimeMs": -5000}})
    wall = doc["limits"]["wallTimeMs"]
    assert 0 < wall <= base["limits"]["wallTimeMs"], (wall, base["limits"])
    run = doc["run"]
    # It still ran (got a result); at the floor it may legitimately time out.
    if not run["timedOut"]:
        assert run["stdout"] == "hi\n", run
    assert run["durationMs"] <= wall + 1000, run


def test_clamp_cpus_and_pids():
    doc = run_ok({"language": "python", "code": "print('ran')",
                  "limits": {"cpus": 1000.0, "pids": 10 ** 9}})
    lim = doc["limits"]
    assert 0 < lim["cpus"] <= os.cpu_count(), lim
    assert 0 < lim["pids"] < 10 ** 9, lim
    assert doc["run"]["stdout"] == "ran\n"


def test_clamp_output_floor_is_enforced():
    doc = run_ok({"language": "python", "code": "print('z' * 100000)",
                  "limits": {"outputBytes": 1}})
    lim = doc["limits"]["outputBytes"]
    assert lim >= 1
    run = doc["run"]
    assert len(run["stdout"]) + len(run["stderr"]) == lim, (lim, len(run["stdout"]))
    assert run["truncated"] is True


def test_limits_in_range_are_applied_as_asked():
    doc = run_ok({"language": "python", "code": "print(1)",
                  "limits": {"memoryBytes": 100 * MiB, "wallTimeMs": 3000,
                             "outputBytes": 8192, "pids": 32}})
    lim = doc["limits"]
    assert (lim["memoryBytes"], lim["wallTimeMs"], lim["outputBytes"], lim["pids"]) == \
        (100 * MiB, 3000, 8192, 32), lim


# ---------------------------------------------------------------- isolation

def test_nothing_persists_between_runs():
    first = run_code("bash", "echo secret > /tmp/marker && echo secret > /box/marker "
                             "&& cat /tmp/marker /box/marker")
    assert first["stdout"] == "secret\nsecret\n", first
    second = run_code("bash", "for f in /tmp/marker /box/marker; do "
                              "[ -e $f ] && echo found $f; done; echo checked")
    assert second["stdout"] == "checked\n", second


def test_parallel_runs():
    results = [None, None]

    def one(i):
        try:
            r = execute({"language": "python",
                         "code": f"import time\ntime.sleep(1)\nprint('run {i}')"})
            results[i] = (r.status_code, strict_json(r))
        except Exception as e:  # reported below
            results[i] = ("exception", repr(e))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for i, res in enumerate(results):
        assert res is not None and res[0] == 200, res
        assert res[1]["run"]["stdout"] == f"run {i}\n", res
        assert res[1]["run"]["exitCode"] == 0


# ---------------------------------------------------------------- encodings

UNI = "h\u00e9llo w\u00f6rld \u2713 \u65e5\u672c"


@pytest.mark.parametrize("language,code", [
    ("python", f"print({UNI!r})"),
    ("javascript", f"console.log({json.dumps(UNI)})"),
    ("bash", f"echo '{UNI}'"),
])
def test_unicode_round_trip(language, code):
    run = run_code(language, code)
    assert run["stdout"] == UNI + "\n", run


def test_invalid_utf8_in_code_answers_json():
    # docs/API.md: invalid UTF-8 in code is passed through as bytes, so the
    # program's source file holds exactly the byte that was sent, and the
    # answer is still valid JSON. python3 FILE rejects a non-UTF-8 byte
    # even in a comment (PEP 263); a warm sandbox's prestarted python must
    # give the same answer as a cold one (cpus 0.99: a shape no warm
    # sandbox has), whichever way the default request goes.
    code = b'print(1)#\xff\\n'
    # A file that declares its encoding may hold that byte.
    latin = b'# -*- coding: latin-1 -*-\\nprint(ascii(\\"\xff\\"))'
    for limits in (b'{"cpus":0.99}', b'{}'):
        r = execute(b'{"language":"python","limits":' + limits + b',"code":"' + code + b'"}')
        assert r.status_code == 200, r.text[:500]
        run = strict_json(r)["run"]
        assert run["exitCode"] == 1 and run["stdout"] == "", run
        assert re.search(r"SyntaxError: Non-UTF-8 code starting with '\\xff' "
                         r"in file \S*main\.py on line 1", run["stderr"]), run
        r = execute(b'{"language":"python","limits":' + limits + b',"code":"' + latin + b'"}')
        assert r.status_code == 200, r.text[:500]
        run = strict_json(r)["run"]
        assert run["exitCode"] == 0 and run["stdout"] == "'\\xff'\n", run
    healthz_ok()
    assert run_code("python", "print(5)")["stdout"] == "5\n"


def test_invalid_utf8_in_stdin_passed_through():
    # The contract: invalid UTF-8 in code/content/stdin is passed through as bytes.
    body = (b'{"language":"python","code":"import sys\\n'
            b'print(sys.stdin.buffer.read().hex())","stdin":"a\xffb\xc3"}')
    r = execute(body)
    assert r.status_code == 200, r.text[:500]
    assert strict_json(r)["run"]["stdout"] == "61ff62c3\n"


def test_binary_output_gives_valid_json():
    r = execute({"language": "python",
                 "code": "import sys\nsys.stdout.buffer.write(b'ok\\xff\\xfe\\x00end\\n')"})
    assert r.status_code == 200, r.text[:500]
    doc = strict_json(r)  # the answer must be valid UTF-8 JSON
    out = doc["run"]["stdout"]
    assert out.startswith("ok") and out.endswith("end\n"), repr(out)
