"""test_kernels.py - kernel sessions end to end through lighttpd, real Docker
and gVisor (issue 15): a live interpreter per session whose variables
persist, Jupyter MIME bundles (the main result, display(), a real PNG from
matplotlib, a DataFrame's HTML), input() from the step's stdin then EOF,
tracebacks on stderr and in kernel.error, interrupt of time.sleep(100) by
timeout and by POST .../interrupt with the variables kept, an ignored
SIGINT ending in a reported restart, POST .../restart, OOM, SSE events in
order, JavaScript let/const/class and top-level await; and, on a private
deployment with a btrfs store of its own ($ISOBOX_FCGI_BIN, root), a kill
of every isobox.fcgi process with the variables still there afterwards.
"""
import base64
import hashlib
import os
import signal
import socket
import struct
import sys
import threading
import time

import pytest
import requests

from conftest import BASE_URL, assert_error, sse_collect

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "helpers"))
import isobox_deploy as dep  # noqa: E402
import session_client as sc  # noqa: E402

needs_btrfs = pytest.mark.skipif(not sc.have_btrfs(), reason="needs root and btrfs-progs")


@pytest.fixture
def py():
    with sc.sessions(BASE_URL, runtime="python", type="kernel") as s:
        yield s


@pytest.fixture
def js():
    with sc.sessions(BASE_URL, runtime="javascript", type="kernel") as s:
        yield s


def main_result(out):
    mains = [r for r in out["kernel"]["results"] if r["isMainResult"]]
    assert len(mains) <= 1, out
    return mains[0]["data"] if mains else None


def check_kernel(out, count=None):
    k = out["kernel"]
    assert set(k) == {"executionCount", "results", "error", "interrupted", "restarted"}, k
    for r in k["results"]:
        assert set(r) == {"data", "metadata", "isMainResult"}, r
        assert "text/plain" in r["data"], r
    if count is not None:
        assert k["executionCount"] == count, k
    return k


# --------------------------------------------------------------------------
# catalogue and create


def test_create_kernel_session_and_unavailable_runtime():
    r = sc.create(BASE_URL, {"runtime": "python", "type": "kernel"})
    assert r.status_code == 201, r.text
    s = sc.Session(BASE_URL, r.json())
    try:
        assert r.json()["type"] == "kernel"
        assert s.info().json()["type"] == "kernel"
    finally:
        s.delete()
    e = assert_error(sc.create(BASE_URL, {"runtime": "lua", "type": "kernel"}), 400,
                     "kernel_unavailable")
    assert "python" in e["message"] and "javascript" in e["message"], e


# --------------------------------------------------------------------------
# Python: values, rich outputs, stdin, errors


def test_values_persist_and_main_result(py):
    out = py.run("x = 41\nx + 1")
    k = check_kernel(out, 1)
    assert main_result(out) == {"text/plain": "42"}
    assert k["error"] is None and not k["interrupted"] and not k["restarted"]
    assert out["run"]["exitCode"] == 0 and out["run"]["stdout"] == ""
    out = py.run("print('hi', x)\n_ + 1")
    check_kernel(out, 2)
    assert out["run"]["stdout"] == "hi 41\n"
    assert main_result(out) == {"text/plain": "43"}, "_ is the last main result"
    out = py.run("y = 1")
    assert main_result(out) is None, "an assignment has no value"
    out = py.run("None")
    assert main_result(out) is None


def test_matplotlib_png_and_dataframe_html(py):
    out = py.run("import matplotlib.pyplot as plt\n"
                 "fig, ax = plt.subplots()\nax.plot([1, 3, 2])\nplt.show()\n"
                 "plt.figure(); plt.plot([2, 1])\nNone", limits={"wallTimeMs": 20000})
    imgs = [r for r in out["kernel"]["results"] if "image/png" in r["data"]]
    assert len(imgs) == 2, out["kernel"]
    for r in imgs:
        png = base64.b64decode(r["data"]["image/png"])
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        w, h = struct.unpack(">II", png[16:24])
        assert w > 100 and h > 100 and len(png) > 2000, (w, h, len(png))
        assert not r["isMainResult"]
    assert "non-GUI" not in out["run"]["stderr"], out["run"]["stderr"]
    out = py.run("import matplotlib.pyplot as plt\nlen(plt.get_fignums())")
    assert main_result(out)["text/plain"] == "0", "figures are closed at step end"
    out = py.run("import pandas as pd\npd.DataFrame({'a': [1, 2], 'b': ['x', 'y']})",
                 limits={"wallTimeMs": 20000})
    d = main_result(out)
    assert "<table" in d["text/html"] and "text/plain" in d


def test_display_and_rich_reprs(py):
    code = (
        "class R:\n"
        "    def _repr_html_(self): return '<b>r</b>'\n"
        "    def _repr_markdown_(self): return '**r**'\n"
        "    def _repr_svg_(self): return '<svg/>'\n"
        "    def _repr_json_(self): return {'k': 1}\n"
        "    def _repr_latex_(self): return '$r$'\n"
        "    def _repr_png_(self): return b'\\x89PNG'\n"
        "    def __repr__(self): return 'R()'\n"
        "class M:\n"
        "    def _repr_mimebundle_(self, **kw): return {'text/x-custom': 'c', 'text/plain': 'M!'}\n"
        "display(1, 'two')\n"
        "display(M())\n"
        "R()\n")
    out = py.run(code)
    res = out["kernel"]["results"]
    assert [r["isMainResult"] for r in res] == [False, False, False, True], res
    assert res[0]["data"] == {"text/plain": "1"}
    assert res[1]["data"] == {"text/plain": "'two'"}
    assert res[2]["data"] == {"text/x-custom": "c", "text/plain": "M!"}
    d = res[3]["data"]
    assert d["text/html"] == "<b>r</b>" and d["text/markdown"] == "**r**"
    assert d["image/svg+xml"] == "<svg/>" and d["application/json"] == {"k": 1}
    assert d["text/latex"] == "$r$" and d["text/plain"] == "R()"
    assert base64.b64decode(d["image/png"]) == b"\x89PNG"


def test_input_reads_stdin_then_eof(py):
    out = py.run("a = input()\nb = input()\ntry:\n    input()\nexcept EOFError:\n"
                 "    c = 'EOF'\n(a, b, c)", stdin="first\nsecond\n")
    assert main_result(out)["text/plain"] == "('first', 'second', 'EOF')"
    out = py.run("import sys\nsys.stdin.read()")
    assert main_result(out)["text/plain"] == "''", "no stdin: EOF at once"


def test_traceback_on_stderr_and_in_error(py):
    out = py.run("def f():\n    return 1 / 0\nf()")
    k = check_kernel(out)
    assert out["run"]["exitCode"] == 1
    assert k["error"]["name"] == "ZeroDivisionError"
    assert k["error"]["value"] == "division by zero"
    tb = "\n".join(k["error"]["traceback"])
    assert "<cell-1>" in tb and "return 1 / 0" in tb and "python.py" not in tb, tb
    assert "ZeroDivisionError: division by zero" in out["run"]["stderr"]
    assert "Traceback" in out["run"]["stderr"]
    out = py.run("f.__name__")
    assert main_result(out)["text/plain"] == "'f'", "the kernel lives on after an error"
    out = py.run("syntax error here")
    assert out["kernel"]["error"]["name"] == "SyntaxError"


# --------------------------------------------------------------------------
# interrupt, restart, OOM


def test_timeout_interrupts_sleep_and_keeps_variables(py):
    py.run("keep = [1, 2, 3]")
    t0 = time.monotonic()
    out = py.run("import time\ntime.sleep(100)", limits={"wallTimeMs": 1500})
    took = time.monotonic() - t0
    k = check_kernel(out)
    assert out["run"]["timedOut"] is True and k["interrupted"] is True
    assert k["restarted"] is False
    assert k["error"]["name"] == "KeyboardInterrupt"
    assert took < 1.5 + 1.5, "answered %.2f s after the wall time" % took
    out = py.run("keep")
    assert main_result(out)["text/plain"] == "[1, 2, 3]"
    assert out["kernel"]["restarted"] is False


def test_interrupt_route(py):
    py.run("v = 'kept'")
    res = {}

    def step():
        res["out"] = py.run("import time\ntime.sleep(100)", limits={"wallTimeMs": 20000})

    t = threading.Thread(target=step)
    t.start()
    assert sc.wait_state(py, "busy", 10) == "busy"
    time.sleep(0.5)
    t0 = time.monotonic()
    r = requests.post(py.url("/interrupt"), headers=py.h(), timeout=30)
    assert r.status_code == 202, r.text
    t.join(30)
    took = time.monotonic() - t0
    out = res["out"]
    assert out["kernel"]["interrupted"] is True and out["run"]["timedOut"] is False
    assert out["kernel"]["error"]["name"] == "KeyboardInterrupt"
    assert took < 1.5, "interrupt answered after %.2f s" % took
    assert main_result(py.run("v"))["text/plain"] == "'kept'"


def test_ignored_sigint_restarts_the_kernel(py):
    py.run("gone = 1")
    out = py.run("import signal, time\nsignal.signal(signal.SIGINT, lambda *a: None)\n"
                 "while True:\n    time.sleep(0.05)", limits={"wallTimeMs": 1000})
    k = check_kernel(out)
    assert out["run"]["timedOut"] is True
    assert k["interrupted"] is True and k["restarted"] is True
    assert out["run"]["exitCode"] == 137
    out = py.run("'gone' in dir()")
    assert main_result(out)["text/plain"] == "False", "state is lost on a restart"
    assert out["kernel"]["executionCount"] == 1
    assert main_result(py.run("1 + 1"))["text/plain"] == "2"


def test_restart_route(py):
    py.run("z = 5\nimport subprocess\n"
           "child = subprocess.Popen(['sleep', '1000'], start_new_session=True)")
    before = sc.session_containers(py.id)
    r = requests.post(py.url("/restart"), headers=py.h(), timeout=60)
    assert r.status_code == 200 and r.json() == {"restarted": True}, r.text
    out = py.run("'z' in dir()")
    assert main_result(out)["text/plain"] == "False"
    assert out["kernel"]["executionCount"] == 1
    # Only the interpreter was restarted: the same sandbox, and nothing of
    # the old interpreter (its child in a session of its own) is left.
    assert sc.session_containers(py.id) == before and len(before) == 1
    out = py.run("import os\nsorted(int(p) for p in os.listdir('/proc') if p.isdigit()"
                 " and 'sleep' in open('/proc/%s/cmdline' % p).read())")
    assert main_result(out)["text/plain"] == "[]", out


def test_restart_route_refuses_filesystem_session():
    with sc.sessions(BASE_URL) as s:
        r = requests.post(s.url("/restart"), headers=s.h(), timeout=60)
        assert_error(r, 400, "not_a_kernel")


def test_oom_restarts_and_session_lives(py):
    py.run("before = 1")
    out = py.run("b = b'x' * (900 << 20)\nlen(b)", limits={"wallTimeMs": 15000})
    assert out["run"]["oomKilled"] is True, out["run"]
    assert out["kernel"]["restarted"] is True
    out = py.run("'before' in dir()")
    assert main_result(out)["text/plain"] == "False"
    assert main_result(py.run("2 * 21"))["text/plain"] == "42"


# --------------------------------------------------------------------------
# SSE


def test_sse_events_in_order(py):
    r = py.exec("print('out')\ndisplay('d')\nimport sys\nprint('err', file=sys.stderr)\n"
                "41 + 1", stream=True)
    assert r.status_code == 200
    evs = sse_collect(r)
    names = [e for e, _, _ in evs]
    assert names[-1] == "done", names
    assert "stdout" in names and "stderr" in names
    assert names.index("display") > names.index("stdout")
    assert names.index("result") > names.index("display")
    assert names.index("result") < names.index("done")
    done = evs[-1][1]
    assert main_result(done)["text/plain"] == "42"
    res = [d for e, d, _ in evs if e == "result"][0]
    assert res["data"]["text/plain"] == "42" and res["isMainResult"] is True
    r = py.exec("1/0", stream=True)
    evs = sse_collect(r)
    names = [e for e, _, _ in evs]
    assert names[-2:] == ["exception", "done"], names
    assert evs[-2][1]["name"] == "ZeroDivisionError"


# --------------------------------------------------------------------------
# JavaScript


def test_js_let_const_class_persist(js):
    out = js.run("let a = 1; const b = 2; class C { f() { return 3 } }")
    assert out["run"]["exitCode"] == 0, out
    out = js.run("console.log('hi'); a + b + new C().f()")
    assert out["run"]["stdout"] == "hi\n"
    assert main_result(out) == {"text/plain": "6"}
    out = js.run("a = 10; a")
    assert main_result(out) == {"text/plain": "10"}
    out = js.run("({k: [1, 'x']})")
    assert main_result(out)["text/plain"] == "{ k: [ 1, 'x' ] }"


def test_js_top_level_await(js):
    out = js.run("const v = await new Promise(r => setTimeout(() => r(40), 10))\nv + 2")
    assert main_result(out) == {"text/plain": "42"}, out
    out = js.run("v")
    assert main_result(out) == {"text/plain": "40"}


def test_js_errors_and_interrupts(js):
    out = js.run("throw new TypeError('bad')")
    assert out["run"]["exitCode"] == 1
    assert out["kernel"]["error"]["name"] == "TypeError"
    assert out["kernel"]["error"]["value"] == "bad"
    assert "TypeError: bad" in out["run"]["stderr"]
    js.run("let kept = 'yes'")
    out = js.run("while (true) {}", limits={"wallTimeMs": 1000})
    assert out["run"]["timedOut"] and out["kernel"]["interrupted"]
    assert not out["kernel"]["restarted"]
    out = js.run("await new Promise(r => setTimeout(r, 100000))", limits={"wallTimeMs": 1000})
    assert out["run"]["timedOut"] and out["kernel"]["interrupted"]
    assert main_result(js.run("kept")) == {"text/plain": "'yes'"}


# --------------------------------------------------------------------------
# the files API on a kernel session: the workspace is the cwd


def test_files_api_and_cwd(py):
    assert py.put("data.txt", b"from the host").status_code in (200, 201)
    out = py.run("open('data.txt').read()")
    assert main_result(out)["text/plain"] == "'from the host'"
    py.run("open('out.txt', 'w').write('from the kernel')")
    assert py.get("out.txt").content == b"from the kernel"


# --------------------------------------------------------------------------
# a restart of the service (private deployment)


@needs_btrfs
def test_service_restart_keeps_variables(tmp_path):
    tmp = str(tmp_path)
    with sc.btrfs_store(tmp, "2G") as store:
        d = sc.deployment(tmp, store, name="kern").start()
        try:
            s = sc.new_session(d.url, type="kernel")
            out = s.run("secret = 'still here'\nsecret")
            assert main_result(out)["text/plain"] == "'still here'"
            for pid in d.procs():
                os.kill(pid, signal.SIGKILL)
            assert dep.wait_for(lambda: len(d.procs()) >= 1, 20), "no respawn"
            deadline = time.monotonic() + 30
            while True:
                r = s.exec("secret")
                # lighttpd's own 500 page (not the service's JSON) while no
                # respawned process accepts yet (slower under ASan)
                web_server_500 = r.status_code == 500 and not r.headers.get(
                    "Content-Type", "").startswith("application/json")
                if (r.status_code not in (409, 502, 503) and not web_server_500) \
                        or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            assert r.status_code == 200, r.text
            out = r.json()
            assert main_result(out)["text/plain"] == "'still here'"
            assert out["kernel"]["restarted"] is False
            assert s.delete().status_code == 204
        finally:
            d.stop()


# --------------------------------------------------------------------------
# idle stop: kernels keep their sandbox longer (kernel_idle_stop_ms)


@needs_btrfs
def test_kernel_idle_stop_is_its_own(tmp_path):
    tmp = str(tmp_path)
    with sc.btrfs_store(tmp, "2G") as store:
        cfg = {"session_idle_stop_ms": 1000, "kernel_idle_stop_ms": 20000}
        d = sc.deployment(tmp, store, cfg, name="kidle").start()
        try:
            with sc.sessions(d.url) as f, sc.sessions(d.url, type="kernel") as k:
                k.run("v = 7")
                t0 = time.monotonic()
                f.run("print(1)")
                assert sc.wait_state(f, "stopped", 15) == "stopped"
                assert time.monotonic() - t0 < 15, "too slow to tell"
                # the filesystem session's sandbox is stopped, the kernel's
                # (and its variables) not
                assert k.state() == "running"
                assert sc.wait_state(k, "stopped", 45) == "stopped"
                assert time.monotonic() - t0 >= 19
                out = k.run("'v' in dir()")
                assert out["kernel"]["restarted"] is True, out["kernel"]
                assert main_result(out)["text/plain"] == "False"
        finally:
            d.stop()


# --------------------------------------------------------------------------
# warm kernel sandboxes (kernel_pool_size)


def _deployment_id(d):
    """The isobox.deployment label of private deployment d's containers
    (service.c: the first 16 hex digits of sha256 of "host:run_dir")."""
    run_dir = os.path.join(d.tmp, "run")
    return hashlib.sha256(("%s:%s" % (socket.gethostname(), run_dir)).encode()).hexdigest()[:16]


def _pool_entries(d=None, every=False):
    """session id -> container of the warm kernel sandboxes (of deployment
    d only, when given: the main deployment's pool refills on its own);
    every: those not running too."""
    f = ["--filter", "label=isobox.kind=kernelpool"] + (["-a"] if every else [])
    if d is not None:
        f += ["--filter", "label=isobox.deployment=" + _deployment_id(d)]
    r = dep.docker("ps", "--no-trunc", *f,
                   "--format", '{{.ID}} {{.Label "isobox.session"}}', timeout=30, check=True)
    return dict(reversed(l.split()) for l in r.stdout.splitlines() if l.strip())


@needs_btrfs
def test_kernel_pool_adopt_refill_and_drain(tmp_path):
    tmp = str(tmp_path)
    with sc.btrfs_store(tmp, "2G") as store:
        d = sc.deployment(tmp, store, {"kernel_pool_size": 1}, name="kpool").start()
        try:
            assert dep.wait_for(lambda: set(_pool_entries(d)), 60), "no warm sandbox"
            warm = set(_pool_entries(d))
            s = sc.new_session(d.url, type="kernel")
            # the session is the warm sandbox: its id, running at once
            assert s.id in warm, (s.id, warm)
            assert s.state() == "running"
            out = s.run("x = 41\nx + 1")
            assert main_result(out)["text/plain"] == "42"
            assert out["kernel"]["restarted"] is False and out["kernel"]["executionCount"] == 1
            # refilled with another one
            assert dep.wait_for(lambda: set(_pool_entries(d)) - {s.id}, 60)
            # a shape of its own starts cold
            c = sc.new_session(d.url, type="kernel", limits={"memoryBytes": 300 << 20})
            assert c.id not in set(_pool_entries(d))
            assert main_result(c.run("1 + 1"))["text/plain"] == "2"
            assert c.delete().status_code == 204
            assert s.delete().status_code == 204
            assert dep.wait_for(lambda: s.id not in _pool_entries(d), 20)
        finally:
            # A graceful stop drains: each warm sandbox's removal (the
            # engine's, up to its 30 s timeout under load) and then its
            # workspace. The helper's default 15 s before SIGKILL could cut
            # a slow drain short; d.killed tells if even this did.
            d.stop(timeout=90)
        # a stopped service leaves no warm sandbox (in any state) nor its
        # workspace
        why = lambda: (d.killed, [m for m in d.messages() if m != "access"][-30:])  # noqa: E731
        assert dep.wait_for(lambda: not (set(_pool_entries(d, every=True))), 30), \
            (_pool_entries(d, every=True), why())
        assert dep.wait_for(lambda: not os.listdir(os.path.join(store, "sessions")), 30), \
            (os.listdir(os.path.join(store, "sessions")), why())


@needs_btrfs
def test_kernel_pool_stopped_entry_not_adopted(tmp_path):
    """A warm sandbox whose container stopped (the engine restarted, or it
    was killed) is never handed to a new session: the create starts cold
    and its first step is a fresh kernel's, and the pool replaces it."""
    tmp = str(tmp_path)
    with sc.btrfs_store(tmp, "2G") as store:
        d = sc.deployment(tmp, store, {"kernel_pool_size": 1}, name="kpdead").start()
        try:
            assert dep.wait_for(lambda: set(_pool_entries(d)), 60), "no warm sandbox"
            # any one of them (two processes filling at once may briefly
            # make one more than kernel_pool_size)
            warm, cid = sorted(_pool_entries(d).items())[0]
            dep.docker("kill", cid, timeout=30, check=True)
            s = sc.new_session(d.url, type="kernel")
            assert s.id != warm, "the stopped warm sandbox was adopted"
            out = s.run("x = 41\nx + 1")
            assert main_result(out)["text/plain"] == "42", out
            k = check_kernel(out, 1)
            assert k["restarted"] is False, k
            # the stopped one is removed, a live one takes its place
            def replaced():
                r = dep.docker("ps", "-a", "--no-trunc", "--filter", "id=" + cid,
                               "--format", "{{.ID}}", timeout=30, check=True)
                return not r.stdout.strip() and (set(_pool_entries(d)) - {s.id})
            assert dep.wait_for(replaced, 60), "the stopped warm sandbox was not replaced"
            assert s.delete().status_code == 204
        finally:
            d.stop()
        assert dep.wait_for(lambda: not (set(_pool_entries(d))), 30), _pool_entries(d)


@needs_btrfs
@pytest.mark.disruptive
def test_dockerd_restart(tmp_path):
    """Stops the host's dockerd (SIGTERM, as test_ops does) and starts it
    again as scripts/setup-host does: every sandbox dies. The kernel
    session's next step says restarted: true (its variables are gone, said
    plainly) and works; a new kernel session never gets the warm sandbox
    that died with the engine: its first step is a fresh kernel's."""
    tmp = str(tmp_path)
    with sc.btrfs_store(tmp, "2G") as store:
        d = sc.deployment(tmp, store, {"kernel_pool_size": 1}, name="kdockerd").start()
        try:
            s = sc.new_session(d.url, type="kernel")
            assert s.run("x = 41")["run"]["exitCode"] == 0
            assert dep.wait_for(lambda: set(_pool_entries(d)) - {s.id}, 60), \
                "no warm sandbox"
            pid = dep.dockerd_pid()
            assert pid, "no dockerd process"
            os.kill(pid, signal.SIGTERM)
            assert dep.wait_for(lambda: not dep.alive(pid), 60, 0.25)
            assert dep.start_dockerd(120), "dockerd did not come back"
            deadline = time.monotonic() + 60
            while True:
                r = s.exec("1 + 1")
                if r.status_code == 200 or time.monotonic() > deadline:
                    break
                time.sleep(1)
            assert r.status_code == 200, r.text
            k = check_kernel(r.json())
            assert k["restarted"] is True, k
            assert main_result(r.json())["text/plain"] == "2"
            out = s.run("x")
            assert check_kernel(out)["error"]["name"] == "NameError", out["kernel"]
            n = sc.new_session(d.url, type="kernel")
            out = n.run("y = 6\ny * 7")
            assert main_result(out)["text/plain"] == "42", out
            k = check_kernel(out, 1)
            assert k["restarted"] is False, k
            assert n.delete().status_code == 204
            assert s.delete().status_code == 204
        finally:
            if not dep.dockerd_pid():
                dep.start_dockerd(120)
            d.stop()
        assert dep.wait_for(lambda: not (set(_pool_entries(d))), 30), _pool_entries(d)
