# python.py - the Python kernel runner of isobox kernel sessions.
#
# isobox-guest (--kernel) starts this as uid 65534 and keeps it alive across
# steps. fd 3 is the control pipe (one frame per step: u32 length | nonce |
# u32 code length | code | stdin), fd 4 the result pipe (frames: nonce |
# kind | u32 length | payload, kinds d/m/e/D); see guest/guest.c, "Kernel
# mode". Cells run with Jupyter semantics: the last expression is the main
# result, rich reprs become MIME bundles, open matplotlib figures become
# image/png, errors come back as {ename, evalue, traceback} and on stderr.
import ast
import base64
import builtins
import ctypes
import io
import json
import linecache
import os
import signal
import sys
import threading
import traceback
import types
import warnings


def _move_high(fd):
    soft = 256
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except Exception:
        pass
    top = max(soft - 8, 10)
    new = fcntl_dupfd(fd, top)
    os.close(fd)
    return new


def fcntl_dupfd(fd, low):
    import fcntl

    return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, low)


_CTL = _move_high(3)
_RES = _move_high(4)
_SELF = os.path.abspath(__file__)
_MIMES = (
    ("_repr_html_", "text/html"),
    ("_repr_markdown_", "text/markdown"),
    ("_repr_svg_", "image/svg+xml"),
    ("_repr_png_", "image/png"),
    ("_repr_jpeg_", "image/jpeg"),
    ("_repr_latex_", "text/latex"),
    ("_repr_json_", "application/json"),
)


class _Step:
    nonce = b""
    count = 0


_step = _Step()


def _send(kind, payload):
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    frame = _step.nonce + kind + len(data).to_bytes(4, "big") + data
    view = memoryview(frame)
    while view:
        try:
            n = os.write(_RES, view)
        except InterruptedError:
            continue
        except OSError:
            return  # the channel is gone: the guest decides
        view = view[n:]


def _b64(v):
    if isinstance(v, str):
        return v
    return base64.b64encode(bytes(v)).decode("ascii")


def _bundle(obj):
    """A Jupyter MIME bundle (data, metadata) for obj."""
    data = {}
    meta = {}
    try:
        mb = getattr(obj, "_repr_mimebundle_", None)
        if callable(mb) and not isinstance(obj, type):
            r = mb()
            if isinstance(r, tuple):
                r, m = r
                if isinstance(m, dict):
                    meta.update(m)
            if isinstance(r, dict):
                data.update(r)
    except Exception:
        pass
    if not isinstance(obj, type):
        for attr, mime in _MIMES:
            if mime in data:
                continue
            fn = getattr(obj, attr, None)
            if not callable(fn):
                continue
            try:
                v = fn()
            except Exception:
                continue
            if isinstance(v, tuple) and len(v) == 2:
                v, m = v
                if isinstance(m, dict):
                    meta[mime] = m
            if v is None:
                continue
            data[mime] = v
    for mime in ("image/png", "image/jpeg"):
        if mime in data:
            data[mime] = _b64(data[mime])
    if "text/plain" not in data:
        try:
            data["text/plain"] = repr(obj)
        except Exception as e:
            data["text/plain"] = "<repr failed: %s>" % type(e).__name__
    for k, v in list(data.items()):
        if not isinstance(v, (str, dict, list, int, float, bool)) and v is not None:
            data[k] = str(v)
    return {"data": data, "metadata": meta}


def display(*objs, raw=False, **_):
    """Show objects as display data of the running step (like IPython's)."""
    for obj in objs:
        if raw and isinstance(obj, dict):
            _send(b"d", {"data": obj, "metadata": {}})
        else:
            _send(b"d", _bundle(obj))


def _figures():
    """Every open matplotlib figure as image/png, then closed."""
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is None:
        return
    try:
        nums = list(plt.get_fignums())
    except Exception:
        return
    for num in nums:
        try:
            fig = plt.figure(num)
            buf = io.BytesIO()
            fig.savefig(buf, format="png", bbox_inches="tight")
            w, h = fig.get_size_inches() * fig.dpi
            _send(
                b"d",
                {
                    "data": {
                        "image/png": base64.b64encode(buf.getvalue()).decode(),
                        "text/plain": "<Figure size %dx%d with %d Axes>"
                        % (w, h, len(fig.axes)),
                    },
                    "metadata": {},
                },
            )
        except Exception:
            pass
    try:
        plt.close("all")
    except Exception:
        pass


def _user_tb(tb):
    """Drop the runner's own frames from the head of a traceback."""
    while tb is not None and tb.tb_frame.f_code.co_filename == _SELF:
        tb = tb.tb_next
    return tb


def _report(e):
    tb = _user_tb(e.__traceback__)
    lines = traceback.format_exception(type(e), e, tb)
    try:
        sys.stderr.write("".join(lines))
        sys.stderr.flush()
    except Exception:
        pass
    _send(
        b"e",
        {
            "ename": type(e).__name__,
            "evalue": str(e),
            "traceback": [l.rstrip("\n") for l in lines],
        },
    )


_user = types.ModuleType("__main__")
_ns = _user.__dict__
_ns.update(__builtins__=builtins, display=display, Out={}, In=[""])
sys.modules["__main__"] = _user
sys.argv = [""]
sys.path[0] = ""
builtins.display = display
warnings.filterwarnings("ignore", message=".*non-GUI backend.*")
warnings.filterwarnings("ignore", message=".*non-interactive.*")
_stdout = sys.stdout
_stderr = sys.stderr


def _run(code):
    """Run one cell; returns 1 when it raised."""
    _step.count += 1
    name = "<cell-%d>" % _step.count
    _ns["In"].append(code)
    linecache.cache[name] = (len(code), None, code.splitlines(True), name)
    flags = getattr(ast, "PyCF_ALLOW_TOP_LEVEL_AWAIT", 0)
    try:
        tree = ast.parse(code, name, "exec")
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        value = None
        if tree.body:
            c = compile(tree, name, "exec", flags=flags)
            r = eval(c, _ns)
            if r is not None and hasattr(r, "__await__"):
                _await(r)
        if last is not None:
            c = compile(last, name, "eval", flags=flags)
            value = eval(c, _ns)
            if flags and c.co_flags & 0x80:  # CO_COROUTINE
                value = _await(value)
        if value is not None:
            _ns["_"] = value
            _ns["Out"][_step.count] = value
            b = _bundle(value)
            _send(b"m", b)
        return 0
    except KeyboardInterrupt as e:
        _report(e)
        return 1
    except SystemExit as e:
        if e.code in (None, 0):
            return 0
        _report(e)
        return 1
    except BaseException as e:
        _report(e)
        return 1


def _await(coro):
    import asyncio

    try:
        loop = asyncio.get_event_loop_policy().get_event_loop()
    except Exception:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
    return loop.run_until_complete(coro)


def _stop_threads(before):
    """SystemExit in every Python thread the step started."""
    for t in threading.enumerate():
        if t.ident is None or t.ident in before or t is threading.main_thread():
            continue
        ctypes.pythonapi.PyThreadState_SetAsyncExc(
            ctypes.c_ulong(t.ident), ctypes.py_object(SystemExit)
        )
    for t in threading.enumerate():
        if t.ident not in before and t is not threading.main_thread():
            t.join(0.2)


def _read(n):
    out = b""
    while len(out) < n:
        try:
            c = os.read(_CTL, n - len(out))
        except InterruptedError:
            continue
        except KeyboardInterrupt:
            continue
        if not c:
            os._exit(0)
        out += c
    return out


def _reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except (ChildProcessError, OSError):
            return
        if pid == 0:
            return


def main():
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        head = _read(4)
        body = _read(int.from_bytes(head, "big"))
        nonce = body[:16]
        clen = int.from_bytes(body[16:20], "big")
        code = body[20 : 20 + clen].decode("utf-8", "replace")
        stdin = body[20 + clen :]
        _reap()
        _step.nonce = nonce
        sys.stdout = _stdout
        sys.stderr = _stderr
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
        before = {t.ident for t in threading.enumerate()}
        raised = 1
        try:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raised = _run(code)
        except BaseException as e:  # a late KeyboardInterrupt
            try:
                _report(e)
            except BaseException:
                pass
        try:
            _figures()
        except BaseException:
            pass
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        except BaseException:
            pass
        for f in (sys.stdout, sys.stderr, _stdout, _stderr):
            try:
                f.flush()
            except BaseException:
                pass
        try:
            _stop_threads(before)
        except BaseException:
            pass
        _send(b"D", b"1" if raised else b"0")


def _preload():
    """matplotlib.pyplot (and numpy) imported ahead of the first plot, in
    a thread: the first step does not wait for it (a step importing it
    meanwhile waits on the import lock for the same work)."""
    try:
        import matplotlib.pyplot  # noqa: F401
    except BaseException:
        pass


# The step's SIGINT is for the main thread. A thread that does not block
# it may be the one that takes it, and then time.sleep() in the main thread
# is not woken: the preload thread is started with SIGINT blocked (it
# inherits the mask it is created with).
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
threading.Thread(target=_preload, name="isobox-preload", daemon=True).start()
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
main()
