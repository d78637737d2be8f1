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
// Results are the API's JSON objects (docs/API.md). Every failure throws an
// IsoboxError carrying the server's error code, HTTP status and request id.

export const VERSION = '0.1.0';

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

  _headers(accept, json) {
    const h = { Accept: accept };
    if (json) h['Content-Type'] = 'application/json';
    if (this.apiKey) h['X-API-Key'] = this.apiKey;
    return h;
  }

  async _request(method, path, body, accept, dl) {
    try {
      return await this._fetch(this.baseUrl + path, {
        method,
        headers: this._headers(accept, body !== undefined),
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: dl.signal,
        cache: 'no-store',
      });
    } catch (e) {
      throw this._wayError(e, dl);
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

  async _json(method, path, body, { signal, timeoutMs } = {}) {
    const dl = deadline(signal, timeoutMs ?? this.timeoutMs);
    try {
      const res = await this._request(method, path, body, 'application/json', dl);
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
  async *stream(request, { signal, timeoutMs } = {}) {
    const dl = deadline(signal, timeoutMs ?? this.timeoutMs);
    let reader = null;
    try {
      const res = await this._request('POST', '/execute?stream=1', request, 'text/event-stream', dl);
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

export default Isobox;
