"""isobox.py - a small client for the isobox HTTP API (standard library only).

    from isobox import Client

    box = Client("http://127.0.0.1:8090", api_key=None)
    res = box.execute("python", "print(6 * 7)")
    print(res["run"]["stdout"], res["run"]["exitCode"])

    for ev in box.stream("python", "import time\\nfor i in range(3):\\n"
                         "    print(i, flush=True); time.sleep(0.5)"):
        if ev.event in ("stdout", "stderr"):
            print(ev.event, ev.data["chunk"], end="")
        elif ev.event == "done":
            print("exit", ev.data["run"]["exitCode"])

Results are the API's JSON objects as dicts (see docs/API.md). Every failure
raises an IsoboxError (or a subclass) carrying the server's error code, the
HTTP status and the request id.
"""
import json
import socket
import urllib.error
import urllib.request

__all__ = [
    "Client", "Event", "IsoboxError", "BadRequest", "Unauthorized",
    "RateLimited", "Unavailable", "ConnectionFailed", "Timeout",
]
__version__ = "0.1.0"

DEFAULT_URL = "http://127.0.0.1:8090"


class IsoboxError(Exception):
    """An API call failed.

    code        the server's stable error code ("unknown_language",
                "capacity", ...), or "network" / "timeout" / "bad_response"
                for failures on the way
    status      the HTTP status (0 when no answer arrived)
    message     a sentence for humans
    request_id  the server's X-Request-Id, when there was an answer
    retry_after seconds the server asked to wait (429, 503), or None
    """

    def __init__(self, message, code="error", status=0, request_id=None,
                 retry_after=None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.request_id = request_id
        self.retry_after = retry_after

    def __str__(self):
        where = f" [HTTP {self.status}]" if self.status else ""
        rid = f" (request {self.request_id})" if self.request_id else ""
        return f"{self.code}: {self.message}{where}{rid}"


class BadRequest(IsoboxError):
    """400/413/415: the request itself must change."""


class Unauthorized(IsoboxError):
    """401/403: a missing or wrong API key, or a refused feature."""


class RateLimited(IsoboxError):
    """429: too many requests or every sandbox busy; see retry_after."""


class Unavailable(IsoboxError):
    """5xx: the server or its sandbox engine cannot serve now."""


class ConnectionFailed(IsoboxError):
    """No HTTP answer: connection refused, reset, DNS ..."""


class Timeout(IsoboxError):
    """The server was silent for longer than the client's timeout."""


def _error_class(status):
    if status in (401, 403):
        return Unauthorized
    if status == 429:
        return RateLimited
    if status >= 500:
        return Unavailable
    if 400 <= status < 500:
        return BadRequest
    return IsoboxError


class Event:
    """One Server-Sent Event of a streamed execution.

    event  "stdout", "stderr" (data: {"chunk", "stage"}) or "done" (data: the
           full result, as execute() returns it)
    data   the parsed JSON data
    """

    __slots__ = ("event", "data")

    def __init__(self, event, data):
        self.event = event
        self.data = data

    def __repr__(self):
        return f"Event({self.event!r}, {self.data!r})"


class Client:
    """A connection-less client: every call is one HTTP request.

    base_url  the server (scheme://host:port, optionally with a path prefix)
    api_key   sent as X-API-Key when set
    timeout   seconds the server may stay silent before Timeout is raised
              (per socket read, so a streamed run may last longer as long as
              it keeps printing)
    """

    def __init__(self, base_url=DEFAULT_URL, api_key=None, timeout=120.0,
                 user_agent=f"isobox-python/{__version__}"):
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.user_agent = user_agent

    # ----------------------------------------------------------- public

    def runtimes(self):
        """GET /runtimes: [{"language", "version", "aliases", ...}]."""
        return self._json("GET", "/runtimes")

    def execute(self, language, code=None, *, files=None, version=None,
                stdin=None, args=None, limits=None, timeout=None, **extra):
        """POST /execute and return the result dict ({"run": {...}, ...}).

        Give the program as code (one file) or files ([{"name", "content",
        "encoding"}], the first is the entry point). limits uses the API's
        names ({"wallTimeMs": 2000, "memoryBytes": 64 << 20, ...}). A program
        that fails, times out or runs out of memory is a result, not an
        exception: look at result["run"]["exitCode"], ["timedOut"],
        ["oomKilled"], ["truncated"]."""
        body = self._body(language, code, files, version, stdin, args,
                          limits, extra)
        return self._json("POST", "/execute", body, timeout=timeout)

    def stream(self, language, code=None, *, files=None, version=None,
               stdin=None, args=None, limits=None, timeout=None, **extra):
        """POST /execute as Server-Sent Events: yields Event objects as the
        program prints (stdout, stderr) and a final "done" with the full
        result. An "error" event raises IsoboxError. Closing the generator
        early closes the connection, and the server then kills the run."""
        body = self._body(language, code, files, version, stdin, args,
                          limits, extra)
        resp = self._open("POST", "/execute", body,
                          accept="text/event-stream", timeout=timeout)
        try:
            ctype = resp.headers.get("Content-Type", "")
            if not ctype.startswith("text/event-stream"):
                # A server that does not stream answers with the result.
                yield Event("done", self._read_json(resp))
                return
            for event, data in _sse(resp):
                try:
                    parsed = json.loads(data) if data else None
                except ValueError:
                    raise IsoboxError(f"event {event!r} holds no JSON",
                                      "bad_response", resp.status,
                                      resp.headers.get("X-Request-Id"))
                if event == "error":
                    p = parsed if isinstance(parsed, dict) else {}
                    raise IsoboxError(
                        p.get("message") or "the run failed",
                        p.get("error") or "error", resp.status,
                        p.get("requestId") or resp.headers.get("X-Request-Id"))
                yield Event(event, parsed)
                if event == "done":
                    return
            raise IsoboxError("the stream ended before the result arrived",
                              "bad_response", resp.status,
                              resp.headers.get("X-Request-Id"))
        except socket.timeout:
            raise Timeout(f"no data for {self._timeout(timeout)} s",
                          "timeout", 0, resp.headers.get("X-Request-Id"))
        finally:
            resp.close()

    # ----------------------------------------------------------- internals

    @staticmethod
    def _body(language, code, files, version, stdin, args, limits, extra):
        body = {"language": language}
        if code is not None:
            body["code"] = code
        if files is not None:
            body["files"] = files
        for k, v in (("version", version), ("stdin", stdin), ("args", args),
                     ("limits", limits)):
            if v is not None:
                body[k] = v
        body.update(extra)
        return body

    def _timeout(self, timeout):
        return self.timeout if timeout is None else timeout

    def _open(self, method, path, body=None, accept="application/json",
              timeout=None):
        headers = {"Accept": accept, "User-Agent": self.user_agent,
                   "Accept-Encoding": "identity"}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if self.api_key:
            headers["X-API-Key"] = self.api_key
        req = urllib.request.Request(self.base_url + path, data=data,
                                     headers=headers, method=method)
        try:
            return urllib.request.urlopen(req, timeout=self._timeout(timeout))
        except urllib.error.HTTPError as e:
            raise self._http_error(e) from None
        except socket.timeout:
            raise Timeout(f"no answer within {self._timeout(timeout)} s",
                          "timeout") from None
        except urllib.error.URLError as e:
            if isinstance(e.reason, socket.timeout):
                raise Timeout(f"no answer within {self._timeout(timeout)} s",
                              "timeout") from None
            raise ConnectionFailed(f"cannot reach {self.base_url}: "
                                   f"{e.reason}", "network") from None
        except OSError as e:
            raise ConnectionFailed(f"cannot reach {self.base_url}: {e}",
                                   "network") from None

    def _json(self, method, path, body=None, timeout=None):
        resp = self._open(method, path, body, timeout=timeout)
        try:
            return self._read_json(resp)
        except socket.timeout:
            raise Timeout(f"no data for {self._timeout(timeout)} s",
                          "timeout", 0,
                          resp.headers.get("X-Request-Id")) from None
        finally:
            resp.close()

    @staticmethod
    def _read_json(resp):
        raw = resp.read()
        try:
            return json.loads(raw.decode("utf-8"))
        except ValueError:
            raise IsoboxError("the answer is not JSON", "bad_response",
                              resp.status,
                              resp.headers.get("X-Request-Id")) from None

    @staticmethod
    def _http_error(e):
        rid = e.headers.get("X-Request-Id") if e.headers else None
        retry = None
        if e.headers and e.headers.get("Retry-After"):
            try:
                retry = float(e.headers["Retry-After"])
            except ValueError:
                retry = None
        try:
            doc = json.loads(e.read().decode("utf-8"))
        except (ValueError, OSError):
            doc = {}
        if not isinstance(doc, dict):
            doc = {}
        cls = _error_class(e.code)
        return cls(doc.get("message") or f"HTTP {e.code} {e.reason}",
                   doc.get("error") or f"http_{e.code}", e.code,
                   doc.get("requestId") or rid, retry)


def _sse(resp):
    """(event, data) pairs of a text/event-stream response, as they arrive."""
    buf = b""
    event, data = None, []
    read = getattr(resp, "read1", None) or resp.read
    while True:
        chunk = read(65536)
        if not chunk:
            return
        buf += chunk
        while True:
            nl = buf.find(b"\n")
            if nl < 0:
                break
            line, buf = buf[:nl], buf[nl + 1:]
            if line.endswith(b"\r"):
                line = line[:-1]
            text = line.decode("utf-8", "replace")
            if text == "":
                if event is not None or data:
                    yield event or "message", "\n".join(data)
                event, data = None, []
            elif text.startswith(":"):
                continue
            else:
                field, _, value = text.partition(":")
                if value.startswith(" "):
                    value = value[1:]
                if field == "event":
                    event = value
                elif field == "data":
                    data.append(value)
