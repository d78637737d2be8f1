// isobox.mjs - a small client for the isobox HTTP API. No dependencies:
// runs on Node >= 18 (global fetch) and in browsers (the playground uses it).
//
//   import { Isobox } from './isobox.mjs';
//   const box = new Isobox({ baseUrl: 'http://127.0.0.1:8090', apiKey });
//   const res = await box.execute({ language: 'python', code: 'print(6 * 7)' });
//   console.log(res.run.stdout, res.run.exitCode);
//
//   for await (const ev of box.stream({ language: 'python', code })) {
//     if (ev.event === 'stdout') process.stdout.write(ev.data.chunk);
//     if (ev.event === 'done') console.log('exit', ev.data.run.exitCode);
//   }
//
//   const s = await box.createSession({ runtime: 'python', ttlSec: 600 });
//   try {
//     await s.write('data.txt', 'hello');
//     const r = await s.exec({ code: 'print(open("data.txt").read())' });
//   } finally {
//     await s.close();             // or: await using s = ... (where supported)
//   }
//
//   const k = await box.createKernel({ runtime: 'python' });   // variables persist
//   const cell = await k.run('import matplotlib.pyplot as plt\nplt.plot([1, 3])\n6 * 7');
//   cell.text;        // "42"; cell.images: [{mime, base64, bytes}]; cell.error
//   await k.close();
//
//   const vol = await box.createVolume('datasets', { sizeBytes: 64 << 20 });
//   await vol.write('raw/a.csv', 'x,y\n1,2\n');    // files without a session
//   const copy = await vol.copy('datasets-v2');     // instant snapshot
//
//   const etag = await box.memoryPut('agent', 'count', '1', { ttlSec: 3600 });
//   await box.memoryUpdate('agent', 'count', (old) => String(Number(old ?? 0) + 1));
//
// Results are the API's JSON objects (docs/API.md). Every failure throws an
// IsoboxError carrying the server's error code, HTTP status and request id.

export const VERSION = '0.3.0';

/** A failed call. code: the server's error code ("unknown_language",
 * "capacity", ...) or "network", "timeout", "aborted", "bad_response" for
 * failures on the way; status: the HTTP status (0 without an answer);
 * requestId: the server's X-Request-Id; retryAfter: seconds to wait (429,
 * 503) or null. */
export class IsoboxError extends Error {
  constructor(message, { code = 'error', status = 0, requestId = null, retryAfter = null, cause } = {}) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'IsoboxError';
    this.code = code;
    this.status = status;
    this.requestId = requestId;
    this.retryAfter = retryAfter;
  }

  /** True for answers worth retrying later (rate limit, capacity, 5xx). */
  get retryable() {
    return this.status === 429 || this.status === 503 || this.code === 'network';
  }
}

function parseRetryAfter(h) {
  if (!h) return null;
  const n = Number(h);
  return Number.isFinite(n) ? n : null;
}

async function errorFrom(res) {
  let doc = {};
  try {
    doc = await res.json();
  } catch {
    doc = {};
  }
  if (!doc || typeof doc !== 'object') doc = {};
  return new IsoboxError(doc.message || `HTTP ${res.status} ${res.statusText}`, {
    code: doc.error || `http_${res.status}`,
    status: res.status,
    requestId: doc.requestId || res.headers.get('X-Request-Id'),
    retryAfter: parseRetryAfter(res.headers.get('Retry-After')),
  });
}

/** An AbortController that fires on the caller's signal and on a timer
 * (restartable, for idle timeouts). */
function deadline(signal, ms) {
  const ctl = new AbortController();
  let timer = null;
  let timedOut = false;
  const arm = () => {
    if (timer) clearTimeout(timer);
    if (ms > 0) {
      timer = setTimeout(() => {
        timedOut = true;
        ctl.abort();
      }, ms);
    }
  };
  const onAbort = () => ctl.abort();
  if (signal) {
    if (signal.aborted) ctl.abort();
    else signal.addEventListener('abort', onAbort, { once: true });
  }
  arm();
  return {
    signal: ctl.signal,
    rearm: arm,
    get timedOut() {
      return timedOut;
    },
    done() {
      if (timer) clearTimeout(timer);
      if (signal) signal.removeEventListener('abort', onAbort);
    },
  };
}

export class Isobox {
  /**
   * @param {object} [opts]
   * @param {string} [opts.baseUrl]   server URL ('' = same origin, in a browser)
   * @param {string} [opts.apiKey]    sent as X-API-Key
   * @param {number} [opts.timeoutMs] execute()/runtimes(): the whole call;
   *                                  stream(): the longest silence (default 120000)
   * @param {Function} [opts.fetch]   a fetch implementation (default: global)
   */
  constructor({ baseUrl = '', apiKey = '', timeoutMs = 120000, fetch: f } = {}) {
    this.baseUrl = String(baseUrl).replace(/\/+$/, '');
    this.apiKey = apiKey || '';
    this.timeoutMs = timeoutMs;
    this._fetch = f || globalThis.fetch.bind(globalThis);
  }

  _headers(accept, json, extra) {
    const h = { Accept: accept };
    if (json) h['Content-Type'] = 'application/json';
    if (this.apiKey) h['X-API-Key'] = this.apiKey;
    return Object.assign(h, extra);
  }

  async _request(method, path, body, accept, dl, extra) {
    try {
      return await this._fetch(this.baseUrl + path, {
        method,
        headers: this._headers(accept, body !== undefined, extra),
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: dl.signal,
        cache: 'no-store',
      });
    } catch (e) {
      throw this._wayError(e, dl);
    }
  }

  /** One request with a raw body (string, bytes, Blob or a ReadableStream,
   * which is sent as it is read) and headers; resolves to the Response of
   * a 2xx/3xx (its body unread), throws IsoboxError otherwise. With
   * opts.keepTimer the caller must call the returned done() once it has
   * read the body (the timeout covers the reading too). */
  async _raw(method, path, { body, headers, accept = 'application/json', signal, timeoutMs } = {}) {
    const dl = deadline(signal, timeoutMs ?? this.timeoutMs);
    let res;
    try {
      const init = {
        method,
        headers: Object.assign({ Accept: accept }, this.apiKey ? { 'X-API-Key': this.apiKey } : {}, headers),
        body,
        signal: dl.signal,
        cache: 'no-store',
      };
      if (body && typeof body.getReader === 'function') init.duplex = 'half';
      res = await this._fetch(this.baseUrl + path, init);
    } catch (e) {
      dl.done();
      throw this._wayError(e, dl);
    }
    if (!res.ok) {
      try {
        throw await errorFrom(res);
      } finally {
        dl.done();
      }
    }
    return { res, dl };
  }

  async _rawJson(method, path, opts) {
    const { res, dl } = await this._raw(method, path, opts);
    try {
      const text = await res.text();
      return text ? JSON.parse(text) : null;
    } catch (e) {
      if (dl.signal.aborted) throw this._wayError(e, dl);
      throw new IsoboxError('the answer is not JSON', {
        code: 'bad_response', status: res.status, requestId: res.headers.get('X-Request-Id'),
      });
    } finally {
      dl.done();
    }
  }

  _wayError(e, dl) {
    if (e instanceof IsoboxError) return e;
    if (dl.timedOut) {
      return new IsoboxError('the server did not answer in time', { code: 'timeout', cause: e });
    }
    if (e && e.name === 'AbortError') {
      return new IsoboxError('the call was cancelled', { code: 'aborted', cause: e });
    }
    return new IsoboxError(`cannot reach ${this.baseUrl || 'the server'}: ${e && e.message}`, {
      code: 'network',
      cause: e,
    });
  }

  async _json(method, path, body, { signal, timeoutMs, headers } = {}) {
    const dl = deadline(signal, timeoutMs ?? this.timeoutMs);
    try {
      const res = await this._request(method, path, body, 'application/json', dl, headers);
      if (!res.ok) throw await errorFrom(res);
      try {
        return await res.json();
      } catch (e) {
        if (dl.signal.aborted) throw this._wayError(e, dl);
        throw new IsoboxError('the answer is not JSON', {
          code: 'bad_response',
          status: res.status,
          requestId: res.headers.get('X-Request-Id'),
        });
      }
    } finally {
      dl.done();
    }
  }

  /** GET /runtimes: [{language, version, aliases, compiled, ...}]. */
  runtimes(opts) {
    return this._json('GET', '/runtimes', undefined, opts);
  }

  /** POST /execute with an /execute request object ({language, code | files,
   * version, stdin, args, limits}); resolves to the result. A program that
   * fails, times out or runs out of memory is a result, not an error: see
   * result.run.exitCode / timedOut / oomKilled / truncated. */
  execute(request, opts) {
    return this._json('POST', '/execute', request, opts);
  }

  /** POST /execute as Server-Sent Events. Yields {event, data} as they
   * arrive: "stdout"/"stderr" ({chunk, stage}) and finally "done" (the full
   * result). An "error" event throws. Leaving the loop early (break, or
   * opts.signal) closes the connection, and the server kills the run. */
  stream(request, opts) {
    return this._sse('/execute?stream=1', request, opts);
  }

  // ------------------------------------------------------------ sessions

  /** POST /v1/sessions: a Session ({runtime, ttlSec, limits, version}).
   * Close it when done (close(), or `await using` where the runtime has
   * it). */
  async createSession(request, opts) {
    const info = await this._json('POST', '/v1/sessions', request, opts);
    const { token, ...rest } = info;
    return new Session(this, info.id, token, rest);
  }

  /** A Session for an existing id and token (no call is made). */
  session(id, token) {
    return new Session(this, id, token, {});
  }

  /** GET /v1/sessions: this tenant's sessions (no tokens). */
  async listSessions(opts) {
    return (await this._json('GET', '/v1/sessions', undefined, opts)).sessions;
  }

  /** A kernel session ({runtime: 'python' | 'javascript', ttlSec, limits,
   * volumes}): one interpreter whose variables last across cells; run
   * cells with Session#run. Close it when done. */
  createKernel(request = {}, opts) {
    return this.createSession({ runtime: 'python', ...request, type: 'kernel' }, opts);
  }

  // ------------------------------------------------------------ volumes

  /** POST /v1/volumes: a new empty Volume (sizeBytes: its cap, else the
   * server's default). */
  async createVolume(name, { sizeBytes, ...opts } = {}) {
    const body = { name };
    if (sizeBytes !== undefined) body.sizeBytes = sizeBytes;
    return new Volume(this, await this._json('POST', '/v1/volumes', body, opts));
  }

  /** An instant copy (a snapshot) of the volume source (a Volume or an
   * id), named name; its cap is the source's unless sizeBytes. */
  async copyVolume(source, name, { sizeBytes, ...opts } = {}) {
    const body = { name, from: typeof source === 'string' ? source : source.id };
    if (sizeBytes !== undefined) body.sizeBytes = sizeBytes;
    return new Volume(this, await this._json('POST', '/v1/volumes', body, opts));
  }

  /** GET /v1/volumes: the tenant's Volumes, by name. */
  async listVolumes(opts) {
    const doc = await this._json('GET', '/v1/volumes', undefined, opts);
    return doc.volumes.map((v) => new Volume(this, v));
  }

  /** GET /v1/volumes/{id}: a Volume (404 volume_not_found for an unknown
   * one or another tenant's). */
  async getVolume(id, opts) {
    return new Volume(this, await this._json('GET', Volume.pathOf(id), undefined, opts));
  }

  /** DELETE a volume (a Volume or an id) and its files (409 volume_busy
   * while a session holds it). */
  async deleteVolume(volume, opts = {}) {
    const id = typeof volume === 'string' ? volume : volume.id;
    const r = await this._raw('DELETE', Volume.pathOf(id), opts);
    r.dl.done();
  }

  // ------------------------------------------------------------ memory

  static _memPath(ns, key) {
    let p = `/v1/memory/${encodeURIComponent(ns)}`;
    if (key !== undefined) p += '/' + String(key).split('/').map(encodeURIComponent).join('/');
    return p;
  }

  /** GET a value: {value (Uint8Array), text(), etag, contentType,
   * expiresAt}. A missing key throws IsoboxError 404 not_found, or
   * resolves to null with {missingOk: true}. */
  async memoryGet(ns, key, { missingOk = false, ...opts } = {}) {
    let r;
    try {
      r = await this._raw('GET', Isobox._memPath(ns, key), { ...opts, accept: '*/*' });
    } catch (e) {
      if (missingOk && e instanceof IsoboxError && e.status === 404) return null;
      throw e;
    }
    try {
      const value = new Uint8Array(await r.res.arrayBuffer());
      return {
        value,
        text: () => new TextDecoder().decode(value),
        etag: unquote(r.res.headers.get('ETag')),
        contentType: r.res.headers.get('Content-Type'),
        expiresAt: r.res.headers.get('X-Expires-At'),
      };
    } catch (e) {
      throw this._wayError(e, r.dl);
    } finally {
      r.dl.done();
    }
  }

  /** PUT a value (string: stored as UTF-8 text; or bytes/Blob); resolves
   * to its new ETag. {contentType, ttlSec, ifMatch (an ETag or '*'),
   * ifNoneMatch ('*': create only)}; a failed condition throws 412
   * precondition_failed. */
  async memoryPut(ns, key, value, { contentType, ttlSec, ifMatch, ifNoneMatch, ...opts } = {}) {
    const headers = {
      'Content-Type': contentType || (typeof value === 'string' ? 'text/plain; charset=utf-8' : 'application/octet-stream'),
    };
    if (ttlSec) headers['X-TTL-Seconds'] = String(Math.trunc(ttlSec));
    if (ifMatch != null) headers['If-Match'] = quote(ifMatch);
    if (ifNoneMatch != null) headers['If-None-Match'] = quote(ifNoneMatch);
    const r = await this._raw('PUT', Isobox._memPath(ns, key), { ...opts, body: value, headers });
    r.dl.done();
    return unquote(r.res.headers.get('ETag'));
  }

  /** DELETE a key (fine when it does not exist); {ifMatch}. */
  async memoryDelete(ns, key, { ifMatch, ...opts } = {}) {
    const headers = ifMatch != null ? { 'If-Match': quote(ifMatch) } : {};
    const r = await this._raw('DELETE', Isobox._memPath(ns, key), { ...opts, headers });
    r.dl.done();
  }

  /** One page of a namespace: {keys, items, nextCursor, listComplete}. */
  memoryList(ns, { prefix, limit, cursor, ...opts } = {}) {
    const q = new URLSearchParams();
    if (prefix != null) q.set('prefix', prefix);
    if (limit != null) q.set('limit', String(limit));
    if (cursor) q.set('cursor', cursor);
    const qs = q.toString();
    return this._json('GET', Isobox._memPath(ns) + (qs ? `?${qs}` : ''), undefined, opts);
  }

  /** Every item of a namespace, page after page. */
  async *memoryKeys(ns, { prefix, ...opts } = {}) {
    let cursor;
    for (;;) {
      const page = await this.memoryList(ns, { prefix, cursor, ...opts });
      yield* page.items;
      if (page.listComplete || !page.nextCursor) return;
      cursor = page.nextCursor;
    }
  }

  /** GET /v1/memory: {tenant, namespaces, usage, quota}. */
  memoryUsage(opts) {
    return this._json('GET', '/v1/memory', undefined, opts);
  }

  /** Compare-and-set in a loop: fn(old text or null) gives the new value;
   * it is written only if nobody changed the key meanwhile, else read
   * again and retried on 412 (at most `retries` times). Resolves to
   * {value, etag}. */
  async memoryUpdate(ns, key, fn, { retries = 20, ttlSec, contentType, ...opts } = {}) {
    for (let attempt = 0; ; attempt++) {
      const cur = await this.memoryGet(ns, key, { missingOk: true, ...opts });
      const value = await fn(cur ? cur.text() : null, cur);
      try {
        const etag = await this.memoryPut(ns, key, value, {
          ttlSec, contentType, ...opts,
          ...(cur ? { ifMatch: cur.etag } : { ifNoneMatch: '*' }),
        });
        return { value, etag };
      } catch (e) {
        if (!(e instanceof IsoboxError) || e.status !== 412 || attempt >= retries) throw e;
        await new Promise((r) => setTimeout(r, Math.min(5 * 2 ** attempt, 200)));
      }
    }
  }

  // ------------------------------------------------------------ streams

  async *_sse(path, request, { signal, timeoutMs, headers } = {}) {
    const dl = deadline(signal, timeoutMs ?? this.timeoutMs);
    let reader = null;
    try {
      const res = await this._request('POST', path, request, 'text/event-stream', dl, headers);
      if (!res.ok) throw await errorFrom(res);
      const rid = res.headers.get('X-Request-Id');
      const ctype = res.headers.get('Content-Type') || '';
      if (!ctype.startsWith('text/event-stream')) {
        yield { event: 'done', data: await res.json() };
        return;
      }
      reader = res.body.getReader();
      const decoder = new TextDecoder();
      let buf = '';
      let event = null;
      let data = [];
      for (;;) {
        let chunk;
        try {
          chunk = await reader.read();
        } catch (e) {
          throw this._wayError(e, dl);
        }
        if (chunk.done) break;
        dl.rearm();
        buf += decoder.decode(chunk.value, { stream: true });
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          let line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line.endsWith('\r')) line = line.slice(0, -1);
          if (line === '') {
            if (event !== null || data.length) {
              const name = event || 'message';
              let parsed;
              try {
                parsed = data.length ? JSON.parse(data.join('\n')) : null;
              } catch {
                throw new IsoboxError(`event ${name} holds no JSON`, {
                  code: 'bad_response', status: res.status, requestId: rid,
                });
              }
              if (name === 'error') {
                const p = parsed && typeof parsed === 'object' ? parsed : {};
                throw new IsoboxError(p.message || 'the run failed', {
                  code: p.error || 'error', status: res.status, requestId: p.requestId || rid,
                });
              }
              yield { event: name, data: parsed };
              if (name === 'done') return;
            }
            event = null;
            data = [];
          } else if (!line.startsWith(':')) {
            const i = line.indexOf(':');
            const field = i < 0 ? line : line.slice(0, i);
            let value = i < 0 ? '' : line.slice(i + 1);
            if (value.startsWith(' ')) value = value.slice(1);
            if (field === 'event') event = value;
            else if (field === 'data') data.push(value);
          }
        }
      }
      throw new IsoboxError('the stream ended before the result arrived', {
        code: 'bad_response', status: res.status, requestId: rid,
      });
    } finally {
      dl.done();
      if (reader) {
        // Closes the connection when the caller stopped early.
        reader.cancel().catch(() => {});
      }
    }
  }
}

function quote(tag) {
  return tag === '*' || String(tag).startsWith('"') ? tag : `"${tag}"`;
}

function unquote(h) {
  if (!h) return null;
  return h.trim().replace(/^W\//, '').replace(/^"|"$/g, '');
}

const enc = (p) => `/fs?path=${String(p).split('/').map(encodeURIComponent).join('/')}`;

/** The file API a session and a volume share (GET|PUT|DELETE .../fs),
 * paths relative to the root (/workspace, or the volume's). A subclass
 * gives box, _p(sub) and _h(extra). */
class Files {
  /** A directory: {path, dir, entries: [{name, size, dir,
   * modTime, type, mode}]}. */
  list(path = '', opts) {
    return this.box._json('GET', this._p(enc(path)), undefined, { ...opts, headers: this._h() });
  }

  /** Write a file from a string, bytes, a Blob or a ReadableStream (sent
   * as it is read). Resolves to {path, bytes, sha256}. */
  write(path, data, opts = {}) {
    return this.box._rawJson('PUT', this._p(enc(path)), {
      ...opts,
      body: data,
      headers: this._h({ 'Content-Type': 'application/octet-stream' }),
    });
  }

  /** A file's bytes (Uint8Array). */
  async read(path, opts = {}) {
    const r = await this.download(path, opts);
    try {
      return new Uint8Array(await r.res.arrayBuffer());
    } catch (e) {
      throw this.box._wayError(e, r.dl);
    } finally {
      r.dl.done();
    }
  }

  /** A file as UTF-8 text. */
  async readText(path, opts) {
    return new TextDecoder().decode(await this.read(path, opts));
  }

  /** GET a file: {res, dl}; read res.body (a ReadableStream) and call
   * dl.done() when finished. */
  download(path, opts = {}) {
    return this.box._raw('GET', this._p(enc(path)), { ...opts, accept: '*/*', headers: this._h() });
  }

  /** Node: stream a file on disk into a file. */
  async uploadFile(path, localPath, opts) {
    const fs = await import('node:fs');
    const { Readable } = await import('node:stream');
    return this.write(path, Readable.toWeb(fs.createReadStream(localPath)), opts);
  }

  /** Node: stream a file to disk (written under a temporary
   * name, renamed when complete). Resolves to the bytes written. */
  async downloadFile(path, localPath, opts) {
    const fs = await import('node:fs');
    const { Readable } = await import('node:stream');
    const { pipeline } = await import('node:stream/promises');
    const r = await this.download(path, opts);
    const tmp = `${localPath}.part${process.pid}`;
    let n = 0;
    try {
      const src = Readable.fromWeb(r.res.body);
      src.on('data', (c) => {
        n += c.length;
        r.dl.rearm();
      });
      await pipeline(src, fs.createWriteStream(tmp));
      await fs.promises.rename(tmp, localPath);
      return n;
    } catch (e) {
      await fs.promises.unlink(tmp).catch(() => {});
      throw this.box._wayError(e, r.dl);
    } finally {
      r.dl.done();
    }
  }

  /** Delete a file or a directory with all it holds (fine when absent). */
  async remove(path, opts = {}) {
    const r = await this.box._raw('DELETE', this._p(enc(path)), { ...opts, headers: this._h() });
    r.dl.done();
  }
}

/** A session: a sandbox whose /workspace lasts across steps. Made by
 * Isobox#createSession (or Isobox#session to attach). close() deletes it
 * (also `await using`, where the runtime supports it). */
export class Session extends Files {
  constructor(box, id, token, info) {
    super();
    this.box = box;
    this.id = id;
    this.token = token;
    this.info = info || {};
    this.closed = false;
  }

  _p(sub = '') {
    return `/v1/sessions/${encodeURIComponent(this.id)}${sub}`;
  }

  _h(extra) {
    return Object.assign({ 'X-Session-Token': this.token }, extra);
  }

  async _call(method, sub, body, opts = {}) {
    return this.box._json(method, this._p(sub), body, { ...opts, headers: this._h() });
  }

  /** GET the session object. */
  async get(opts) {
    this.info = await this._call('GET', '', undefined, opts);
    return this.info;
  }

  /** Set the idle TTL, counted from now. */
  async extend(ttlSec, opts) {
    this.info = await this._call('PATCH', '', { ttlSec }, opts);
    return this.info;
  }

  /** SIGINT to the running step (409 session_idle when none runs). */
  interrupt(opts) {
    return this._call('POST', '/interrupt', {}, opts);
  }

  /** A new Session whose workspace is a copy of this one's. */
  async fork(opts) {
    const { token, ...info } = await this._call('POST', '/fork', {}, opts);
    return new Session(this.box, info.id, token, info);
  }

  /** DELETE the session (sandbox and workspace). */
  async delete(opts) {
    const r = await this.box._raw('DELETE', this._p(), { ...opts, headers: this._h() });
    r.dl.done();
    this.closed = true;
  }

  /** Delete unless already done; a session already gone is fine. */
  async close(opts) {
    if (this.closed) return;
    try {
      await this.delete(opts);
    } catch (e) {
      if (!(e instanceof IsoboxError) || e.status !== 404) throw e;
      this.closed = true;
    }
  }

  /** One step ({code | files, stdin, args, limits}), in /workspace: the
   * /execute answer plus sandboxRestarted. */
  exec(request, opts) {
    return this._call('POST', '/exec', { language: 'session', ...request }, opts);
  }

  /** One step as Server-Sent Events, like Isobox#stream. */
  stream(request, opts = {}) {
    return this.box._sse(this._p('/exec?stream=1'), { language: 'session', ...request }, { ...opts, headers: this._h() });
  }

  /** One cell in a kernel session ({code} or a string, stdin, limits):
   * a Cell (results, the last expression's value as text, images). A cell
   * that raises is a Cell with error, not an exception. */
  async run(request, opts) {
    const req = typeof request === 'string' ? { code: request } : request;
    return new Cell(await this.exec(req, opts));
  }

  /** Start the kernel's interpreter again (variables gone, workspace
   * kept): {restarted: true}; 400 not_a_kernel for a filesystem session. */
  restart(opts) {
    return this._call('POST', '/restart', {}, opts);
  }
}

/** A volume: long-term disk of the tenant, attached to sessions at create
 * ({volumes: [{id, mountPath, mode}]}), its files reachable without a
 * session through the same methods as a Session's (list, write, read,
 * readText, download, uploadFile, downloadFile, remove; writes are 409
 * volume_locked while a session holds it read-write). info: the volume
 * object of the last answer (sizeBytes, usedBytes, attachedTo ...). */
export class Volume extends Files {
  constructor(box, info) {
    super();
    this.box = box;
    this.info = info;
    this.id = info.id;
    this.name = info.name;
  }

  static pathOf(id) {
    return `/v1/volumes/${encodeURIComponent(id)}`;
  }

  _p(sub = '') {
    return Volume.pathOf(this.id) + sub;
  }

  _h(extra) {
    return Object.assign({}, extra);
  }

  /** GET the volume object again. */
  async get(opts) {
    this.info = await this.box._json('GET', this._p(), undefined, opts);
    this.name = this.info.name;
    return this.info;
  }

  /** An instant copy of this volume named name: a new Volume. */
  copy(name, opts) {
    return this.box.copyVolume(this, name, opts);
  }

  /** Delete the volume and its files. */
  delete(opts) {
    return this.box.deleteVolume(this.id, opts);
  }
}

const IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp'];

function b64bytes(b64) {
  if (typeof Buffer !== 'undefined') return new Uint8Array(Buffer.from(b64, 'base64'));
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** The answer to one kernel cell (Session#run): stdout, stderr, exitCode
 * (1 when it raised), results (MIME bundles {data, metadata,
 * isMainResult}), text (text/plain of the last expression's value, or
 * null), images ([{mime, base64, bytes}], a matplotlib figure is an
 * image/png), error ({name, value, traceback} or null), executionCount,
 * interrupted, restarted, raw (the whole answer). */
export class Cell {
  constructor(raw) {
    const run = raw.run || {};
    const k = raw.kernel || {};
    this.raw = raw;
    this.stdout = run.stdout ?? '';
    this.stderr = run.stderr ?? '';
    this.exitCode = run.exitCode;
    this.results = k.results || [];
    this.error = k.error || null;
    this.executionCount = k.executionCount;
    this.interrupted = !!k.interrupted;
    this.restarted = !!k.restarted;
    this.text = null;
    this.images = [];
    for (const r of this.results) {
      const data = r.data || {};
      if (r.isMainResult) this.text = data['text/plain'] ?? null;
      const mime = IMAGE_TYPES.find((m) => typeof data[m] === 'string');
      if (mime) this.images.push({ mime, base64: data[mime], bytes: b64bytes(data[mime]) });
    }
  }
}

if (typeof Symbol.asyncDispose === 'symbol') {
  Session.prototype[Symbol.asyncDispose] = function dispose() {
    return this.close();
  };
}

export default Isobox;
