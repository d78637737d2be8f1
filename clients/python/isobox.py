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

Sessions (a sandbox whose /workspace lasts across steps) clean up after
themselves in a with block:

    with box.create_session("python", ttl_sec=600) as s:
        s.upload("data.csv", "local/data.csv")      # streamed from disk
        print(s.exec("print(open('data.csv').read()[:20])")["run"]["stdout"])
        s.download("data.csv", "/tmp/copy.csv")     # streamed to disk

Kernels (one interpreter whose variables last across cells):

    with box.create_kernel("python") as k:
        cell = k.run("import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\n6 * 7")
        print(cell.text)                  # "42", the last expression's value
        open("plot.png", "wb").write(cell.images[0][1])   # (mime, bytes)

Volumes (long-term disk, attached to sessions, files without a session):

    vol = box.create_volume("datasets", size_bytes=64 << 20)
    vol.upload("raw/a.csv", "local/a.csv")
    copy = vol.copy("datasets-v2")                     # instant snapshot
    box.create_session("python", volumes=[{"id": vol.id,
                       "mountPath": "/data", "mode": "ro"}])

Memory (durable key-value with ETags, compare-and-set and TTL):

    etag = box.memory_put("agent", "count", b"1", ttl_sec=3600)
    item = box.memory_get("agent", "count")           # .value, .etag ...
    box.memory_update("agent", "count", lambda old: str(int(old or 0) + 1))

Results are the API's JSON objects as dicts (see docs/API.md). Every failure
raises an IsoboxError (or a subclass) carrying the server's error code, the
HTTP status and the request id.
"""
import json
import os
import socket
import time
import urllib.error
import urllib.parse
import urllib.request

__all__ = [
    "Client", "Session", "Volume", "Cell", "Event", "MemoryItem",
    "IsoboxError",
    "BadRequest", "NotFound", "Conflict", "PreconditionFailed",
    "Unauthorized", "RateLimited", "Unavailable", "ConnectionFailed",
    "Timeout",
]
__version__ = "0.3.0"

DEFAULT_URL = "http://127.0.0.1:8090"
_MISSING = object()


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


class NotFound(BadRequest):
    """404: no such session, file or memory key (or another tenant's)."""


class Conflict(BadRequest):
    """409: the session is busy with another step (session_busy) or has
    none to interrupt (session_idle); a volume is held (volume_locked,
    volume_busy) or its name taken (volume_name_exists)."""


class PreconditionFailed(BadRequest):
    """412: a compare-and-set (if_match / if_none_match) did not hold."""


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
    if status == 404:
        return NotFound
    if status == 409:
        return Conflict
    if status == 412:
        return PreconditionFailed
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


class MemoryItem:
    """A value read from memory.

    value         the bytes
    etag          the SHA-256 of the value (hex, unquoted): pass it as
                  if_match to change the value only if nobody else did
    content_type  as stored
    expires_at    RFC 3339 time, or None when it does not expire
    """

    __slots__ = ("value", "etag", "content_type", "expires_at")

    def __init__(self, value, etag, content_type, expires_at):
        self.value = value
        self.etag = etag
        self.content_type = content_type
        self.expires_at = expires_at

    @property
    def text(self):
        """The value decoded as UTF-8."""
        return self.value.decode("utf-8")

    def __repr__(self):
        return f"MemoryItem({self.value!r}, etag={self.etag!r})"


class Cell:
    """The answer to one kernel cell (Session.run).

    stdout, stderr    the streams (a traceback is on stderr too)
    exit_code         0, or 1 when the cell raised
    results           the MIME bundles in order: [{"data": {mime: value},
                      "metadata", "isMainResult"}]
    text              the text/plain of the last expression's value, or
                      None when the cell ended in a statement
    images            [(mime, bytes)] of every image result (a matplotlib
                      figure is an image/png), decoded from base64
    error             {"name", "value", "traceback"} or None
    execution_count   cells run by this interpreter (1 after a restart)
    interrupted       SIGINT stopped the cell (variables kept)
    restarted         the interpreter was started again (variables gone)
    raw               the whole answer (the step's dict)
    """

    IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")

    def __init__(self, raw):
        import base64
        self.raw = raw
        run = raw.get("run") or {}
        k = raw.get("kernel") or {}
        self.stdout = run.get("stdout", "")
        self.stderr = run.get("stderr", "")
        self.exit_code = run.get("exitCode")
        self.results = k.get("results") or []
        self.error = k.get("error")
        self.execution_count = k.get("executionCount")
        self.interrupted = bool(k.get("interrupted"))
        self.restarted = bool(k.get("restarted"))
        self.text = None
        self.images = []
        for r in self.results:
            data = r.get("data") or {}
            if r.get("isMainResult"):
                self.text = data.get("text/plain")
            for mime in self.IMAGE_TYPES:
                if isinstance(data.get(mime), str):
                    self.images.append((mime, base64.b64decode(data[mime])))
                    break

    def __repr__(self):
        return (f"Cell(text={self.text!r}, images={len(self.images)}, "
                f"error={(self.error or {}).get('name')!r})")


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
        return self._stream("/execute", body, None, timeout)

    # ----------------------------------------------------------- sessions

    def create_session(self, runtime, *, ttl_sec=None, limits=None,
                       version=None, timeout=None, **extra):
        """POST /v1/sessions: a Session (use it in a with block to delete
        it at the end). ttl_sec is the idle TTL; limits the sandbox's
        shape ({"memoryBytes", "cpus", "pids", "tmpfsBytes", and the
        default "wallTimeMs" / "outputBytes" of its steps})."""
        body = {"runtime": runtime}
        for k, v in (("ttlSec", ttl_sec), ("limits", limits),
                     ("version", version)):
            if v is not None:
                body[k] = v
        body.update(extra)
        info = self._json("POST", "/v1/sessions", body, timeout=timeout)
        return Session(self, info["id"], info.pop("token"), info)

    def session(self, session_id, token):
        """A Session for an existing id and token (no call is made)."""
        return Session(self, session_id, token)

    def list_sessions(self):
        """GET /v1/sessions: this tenant's sessions (dicts, no tokens)."""
        return self._json("GET", "/v1/sessions")["sessions"]

    def create_kernel(self, runtime="python", *, ttl_sec=None, limits=None,
                      version=None, timeout=None, **extra):
        """A kernel session (python or javascript): one interpreter whose
        variables last across cells; run cells with Session.run. Use it in
        a with block, like create_session."""
        return self.create_session(runtime, ttl_sec=ttl_sec, limits=limits,
                                   version=version, timeout=timeout,
                                   type="kernel", **extra)

    # ----------------------------------------------------------- volumes

    def create_volume(self, name, *, size_bytes=None, timeout=None):
        """POST /v1/volumes: a new empty Volume of the tenant (its cap
        size_bytes, else the server's default)."""
        body = {"name": name}
        if size_bytes is not None:
            body["sizeBytes"] = size_bytes
        return Volume(self, self._json("POST", "/v1/volumes", body,
                                       timeout=timeout))

    def copy_volume(self, source, name, *, size_bytes=None, timeout=None):
        """An instant copy (a snapshot) of the volume source (a Volume or
        an id) named name. Its cap is the source's unless size_bytes."""
        body = {"name": name, "from": getattr(source, "id", source)}
        if size_bytes is not None:
            body["sizeBytes"] = size_bytes
        return Volume(self, self._json("POST", "/v1/volumes", body,
                                       timeout=timeout))

    def list_volumes(self):
        """GET /v1/volumes: the tenant's Volumes, by name."""
        return [Volume(self, v)
                for v in self._json("GET", "/v1/volumes")["volumes"]]

    def get_volume(self, volume_id):
        """GET /v1/volumes/{id}: the Volume (NotFound, volume_not_found,
        for an unknown one or another tenant's)."""
        return Volume(self, self._json("GET", Volume.path_of(volume_id)))

    def delete_volume(self, volume_id):
        """DELETE a volume and its files (Conflict, volume_busy, while a
        session holds it)."""
        resp = self._request("DELETE", Volume.path_of(
            getattr(volume_id, "id", volume_id)))
        resp.close()

    # ----------------------------------------------------------- memory

    @staticmethod
    def _mem_path(namespace, key=None):
        p = "/v1/memory/" + urllib.parse.quote(namespace, safe="")
        if key is not None:
            p += "/" + urllib.parse.quote(key, safe="/")
        return p

    def memory_get(self, namespace, key, *, default=_MISSING):
        """GET a value: a MemoryItem. A missing (or expired) key raises
        NotFound, or returns default when one is given."""
        try:
            resp = self._request("GET", self._mem_path(namespace, key),
                                 accept="*/*")
        except NotFound:
            if default is _MISSING:
                raise
            return default
        with resp:
            value = self._read_all(resp)
            return MemoryItem(value, _etag(resp.headers.get("ETag")),
                              resp.headers.get("Content-Type"),
                              resp.headers.get("X-Expires-At"))

    def memory_put(self, namespace, key, value, *, content_type=None,
                   ttl_sec=None, if_match=None, if_none_match=None):
        """PUT a value (bytes, or str stored as UTF-8) and return its new
        ETag. ttl_sec: seconds until it expires (0/None: never). if_match
        (an ETag, or "*") makes it a compare-and-set, if_none_match="*"
        create-only; when the condition fails: PreconditionFailed."""
        if isinstance(value, str):
            value = value.encode("utf-8")
            content_type = content_type or "text/plain; charset=utf-8"
        headers = {"Content-Type": content_type or "application/octet-stream"}
        if ttl_sec:
            headers["X-TTL-Seconds"] = str(int(ttl_sec))
        if if_match is not None:
            headers["If-Match"] = _quote_etag(if_match)
        if if_none_match is not None:
            headers["If-None-Match"] = _quote_etag(if_none_match)
        resp = self._request("PUT", self._mem_path(namespace, key),
                             data=value, headers=headers)
        with resp:
            resp.read()
            return _etag(resp.headers.get("ETag"))

    def memory_delete(self, namespace, key, *, if_match=None):
        """DELETE a key (no error when it does not exist)."""
        headers = {}
        if if_match is not None:
            headers["If-Match"] = _quote_etag(if_match)
        resp = self._request("DELETE", self._mem_path(namespace, key),
                             headers=headers)
        resp.close()

    def memory_list(self, namespace, *, prefix=None, limit=None,
                    cursor=None):
        """One page of a namespace's keys: {"keys", "items", "nextCursor",
        "listComplete"}."""
        q = {k: v for k, v in (("prefix", prefix), ("limit", limit),
                                ("cursor", cursor)) if v is not None}
        path = self._mem_path(namespace)
        if q:
            path += "?" + urllib.parse.urlencode(q)
        return self._json("GET", path)

    def memory_keys(self, namespace, *, prefix=None):
        """Every item of a namespace (dicts of memory_list's "items"),
        page after page."""
        cursor = None
        while True:
            page = self.memory_list(namespace, prefix=prefix, cursor=cursor)
            yield from page["items"]
            if page["listComplete"] or not page["nextCursor"]:
                return
            cursor = page["nextCursor"]

    def memory_usage(self):
        """GET /v1/memory: {"tenant", "namespaces", "usage", "quota"}."""
        return self._json("GET", "/v1/memory")

    def memory_update(self, namespace, key, fn, *, ttl_sec=None,
                      content_type=None, retries=20):
        """Compare-and-set in a loop: read the value (None when absent),
        write fn(old_bytes_or_None), only if nobody changed it meanwhile;
        on 412 read again and retry (at most retries times). Returns
        (new_value, etag). fn may return str or bytes."""
        for attempt in range(retries + 1):
            item = self.memory_get(namespace, key, default=None)
            new = fn(item.value if item else None)
            try:
                etag = self.memory_put(
                    namespace, key, new, ttl_sec=ttl_sec,
                    content_type=content_type,
                    if_match=item.etag if item else None,
                    if_none_match=None if item else "*")
                return new, etag
            except PreconditionFailed:
                if attempt == retries:
                    raise
                time.sleep(min(0.005 * (2 ** attempt), 0.2))

    # ----------------------------------------------------------- streams

    def _stream(self, path, body, headers, timeout):
        resp = self._open("POST", path, body, accept="text/event-stream",
                          timeout=timeout, headers=headers)
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
              timeout=None, headers=None):
        h = dict(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            h["Content-Type"] = "application/json"
        return self._request(method, path, data=data, headers=h,
                             accept=accept, timeout=timeout)

    def _request(self, method, path, data=None, headers=None,
                 accept="application/json", timeout=None):
        """One HTTP request; data is bytes or a binary file object (sent
        as it is read, with a Content-Length when its size is known).
        Returns the open response; a 4xx/5xx raises."""
        h = {"Accept": accept, "User-Agent": self.user_agent,
             "Accept-Encoding": "identity"}
        h.update(headers or {})
        if self.api_key:
            h["X-API-Key"] = self.api_key
        if data is not None and not isinstance(data, (bytes, bytearray)):
            try:
                size = os.fstat(data.fileno()).st_size - data.tell()
                h.setdefault("Content-Length", str(size))
            except (AttributeError, OSError, ValueError):
                pass
        if method in ("PUT", "POST", "PATCH") and data is None:
            data = b""
        req = urllib.request.Request(self.base_url + path, data=data,
                                     headers=h, method=method)
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

    def _read_all(self, resp, timeout=None):
        try:
            return resp.read()
        except socket.timeout:
            raise Timeout(f"no data for {self._timeout(timeout)} s",
                          "timeout", 0,
                          resp.headers.get("X-Request-Id")) from None

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


class _Files:
    """The file API a session and a volume share (GET|PUT|DELETE .../fs):
    paths relative to the root (/workspace, or the volume's)."""

    def _fs_path(self, path):
        return self._path("/fs?path=" + urllib.parse.quote(path, safe="/"))

    # Each class gives _path(sub) and _h(extra) (its headers).

    def list(self, path=""):
        """A directory: {"path", "dir", "entries": [{"name", "size",
        "dir", "modTime", "type", "mode"}]}."""
        resp = self.client._request("GET", self._fs_path(path),
                                    headers=self._h())
        with resp:
            return json.loads(self.client._read_all(resp))

    def upload(self, path, src, *, timeout=None):
        """Write a file from src: a path on disk (streamed from it), a
        binary file object (streamed) or bytes/str. Parents are created.
        Returns {"path", "bytes", "sha256"}."""
        if isinstance(src, str) and not isinstance(src, bytes):
            if os.path.exists(src):
                with open(src, "rb") as f:
                    return self.upload(path, f, timeout=timeout)
            raise FileNotFoundError(src)
        if isinstance(src, os.PathLike):
            with open(src, "rb") as f:
                return self.upload(path, f, timeout=timeout)
        return self._put(path, src, timeout)

    def write(self, path, data, *, timeout=None):
        """Write bytes (or str, as UTF-8) to a file."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        return self._put(path, data, timeout)

    def _put(self, path, data, timeout):
        resp = self.client._request(
            "PUT", self._fs_path(path), data=data,
            headers=self._h({"Content-Type": "application/octet-stream"}),
            timeout=timeout)
        with resp:
            return json.loads(self.client._read_all(resp, timeout))

    def read(self, path, *, timeout=None):
        """A file's bytes."""
        resp = self.client._request("GET", self._fs_path(path),
                                    headers=self._h(), accept="*/*",
                                    timeout=timeout)
        with resp:
            return self.client._read_all(resp, timeout)

    def download(self, path, dest, *, timeout=None, chunk=1 << 16):
        """Stream a file to dest (a path on disk, written atomically via a
        temporary name, or a binary file object). Returns the bytes
        written."""
        resp = self.client._request("GET", self._fs_path(path),
                                    headers=self._h(), accept="*/*",
                                    timeout=timeout)
        with resp:
            if hasattr(dest, "write"):
                return _copy(self.client, resp, dest, chunk, timeout)
            tmp = f"{os.fspath(dest)}.part{os.getpid()}"
            try:
                with open(tmp, "wb") as f:
                    n = _copy(self.client, resp, f, chunk, timeout)
                os.replace(tmp, dest)
                return n
            except BaseException:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
                raise

    def remove(self, path):
        """Delete a file or a directory with all it holds (no error when
        it does not exist)."""
        resp = self.client._request("DELETE", self._fs_path(path),
                                    headers=self._h())
        resp.close()


class Session(_Files):
    """A session: a sandbox whose /workspace lasts across steps. Made by
    Client.create_session (or Client.session to attach to one). In a with
    block it is deleted at the end; close() does the same.

    id, token  its id and its token (sent as X-Session-Token)
    info       the session object of the last answer that carried it
    """

    def __init__(self, client, session_id, token, info=None):
        self.client = client
        self.id = session_id
        self.token = token
        self.info = info or {}
        self.closed = False

    def __repr__(self):
        return f"Session({self.id!r})"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def _path(self, sub=""):
        return "/v1/sessions/" + urllib.parse.quote(self.id, safe="") + sub

    def _h(self, extra=None):
        h = {"X-Session-Token": self.token}
        h.update(extra or {})
        return h

    def _call(self, method, sub="", body=None, timeout=None):
        resp = self.client._open(method, self._path(sub), body,
                                 timeout=timeout, headers=self._h())
        with resp:
            raw = self.client._read_all(resp, timeout)
            return json.loads(raw.decode("utf-8")) if raw else None

    # ---- the session

    def get(self):
        """GET the session object (state, expiresAt, steps, diskBytes...)."""
        self.info = self._call("GET")
        return self.info

    def extend(self, ttl_sec):
        """PATCH the idle TTL: it expires ttl_sec after now (and after
        every later call). Returns the session object."""
        self.info = self._call("PATCH", body={"ttlSec": ttl_sec})
        return self.info

    def interrupt(self):
        """SIGINT to the running step; Conflict (session_idle) when none
        runs."""
        return self._call("POST", "/interrupt", body={})

    def fork(self):
        """A new Session whose workspace is a copy of this one's."""
        info = self._call("POST", "/fork", body={})
        return Session(self.client, info["id"], info.pop("token"), info)

    def delete(self):
        """DELETE the session: its sandbox and workspace are gone."""
        resp = self.client._request("DELETE", self._path(),
                                    headers=self._h())
        resp.close()
        self.closed = True

    def close(self):
        """Delete the session unless that already happened (a session
        that expired or was deleted elsewhere is not an error)."""
        if self.closed:
            return
        try:
            self.delete()
        except NotFound:
            self.closed = True

    # ---- steps

    def exec(self, code=None, *, files=None, stdin=None, args=None,
             limits=None, timeout=None, **extra):
        """One step, in /workspace: the /execute answer plus
        "sandboxRestarted". limits: wallTimeMs and outputBytes."""
        body = Client._body("session", code, files, None, stdin, args,
                            limits, extra)
        return self._call("POST", "/exec", body, timeout=timeout)

    def stream(self, code=None, *, files=None, stdin=None, args=None,
               limits=None, timeout=None, **extra):
        """One step as Server-Sent Events, like Client.stream."""
        body = Client._body("session", code, files, None, stdin, args,
                            limits, extra)
        return self.client._stream(self._path("/exec"), body, self._h(),
                                   timeout)

    # ---- kernels

    def run(self, code, *, stdin=None, limits=None, timeout=None):
        """Run one cell in a kernel session: a Cell (its results, the last
        expression's value as text, images decoded). A cell that raises is
        a Cell with error, not an exception."""
        return Cell(self.exec(code, stdin=stdin, limits=limits,
                              timeout=timeout))

    def restart(self):
        """Start the kernel's interpreter again (variables gone; the
        workspace stays): {"restarted": true}. BadRequest (not_a_kernel)
        for a filesystem session."""
        return self._call("POST", "/restart", body={})


class Volume(_Files):
    """A volume: long-term disk of the tenant, attached to sessions at
    create (create_session(..., volumes=[{"id", "mountPath", "mode"}])),
    its files reachable without a session through the same file methods
    as a Session's (list, upload, write, read, download, remove; writes
    are Conflict, volume_locked, while a session holds it read-write).

    id, name  its id (vol_...) and name
    info      the volume object of the last answer (sizeBytes, usedBytes,
              attachedTo ...)
    """

    def __init__(self, client, info):
        self.client = client
        self.info = info
        self.id = info["id"]
        self.name = info.get("name")

    def __repr__(self):
        return f"Volume({self.id!r}, name={self.name!r})"

    @staticmethod
    def path_of(volume_id):
        return "/v1/volumes/" + urllib.parse.quote(volume_id, safe="")

    def _path(self, sub=""):
        return self.path_of(self.id) + sub

    def _h(self, extra=None):
        return dict(extra or {})

    def get(self):
        """GET the volume object again (usage, holders)."""
        self.info = self.client._json("GET", self._path())
        self.name = self.info.get("name")
        return self.info

    def copy(self, name, *, size_bytes=None):
        """An instant copy of this volume named name: a new Volume."""
        return self.client.copy_volume(self, name, size_bytes=size_bytes)

    def delete(self):
        """Delete the volume and its files."""
        self.client.delete_volume(self.id)


def _copy(client, resp, f, chunk, timeout):
    n = 0
    while True:
        try:
            b = resp.read(chunk)
        except socket.timeout:
            raise Timeout(f"no data for {client._timeout(timeout)} s",
                          "timeout", 0,
                          resp.headers.get("X-Request-Id")) from None
        if not b:
            return n
        f.write(b)
        n += len(b)


def _etag(h):
    """An ETag header without its quotes."""
    if not h:
        return None
    h = h.strip()
    if h.startswith("W/"):
        h = h[2:]
    return h.strip('"')


def _quote_etag(tag):
    if tag == "*" or tag.startswith('"'):
        return tag
    return f'"{tag}"'


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
