// api.mjs - the playground's calls to the stateful API: sessions (files,
// steps), kernels, volumes and memory. The API key and a session's token travel in
// headers only (never in a URL); a session's token lives in this module's
// memory and is gone with the page. Errors are the client's IsoboxError
// carrying the server's code, so the views word them the same way.
import { IsoboxError } from './isobox.mjs';

let apiKey = '';

/** The X-API-Key sent with every call ('' for none). */
export function setApiKey(key) {
  apiKey = (key || '').trim();
}

async function errorFrom(res) {
  let doc = {};
  try {
    doc = await res.json();
  } catch {
    doc = {};
  }
  const ra = Number(res.headers.get('Retry-After'));
  return new IsoboxError(doc.message || `HTTP ${res.status}`, {
    code: doc.error || `http_${res.status}`,
    status: res.status,
    requestId: doc.requestId || res.headers.get('X-Request-Id'),
    retryAfter: Number.isFinite(ra) && ra > 0 ? ra : null,
  });
}

/** One call; resolves to the Response when it is 2xx or 304, else throws. */
export async function call(method, path, { json, body, headers, token, signal, keepalive } = {}) {
  const h = new Headers(headers || {});
  if (apiKey) h.set('X-API-Key', apiKey);
  if (token) h.set('X-Session-Token', token);
  let payload = body;
  if (json !== undefined) {
    h.set('Content-Type', 'application/json');
    payload = JSON.stringify(json);
  }
  let res;
  try {
    res = await fetch(path, { method, headers: h, body: payload, signal, keepalive, cache: 'no-store' });
  } catch (e) {
    if (e && e.name === 'AbortError') throw new IsoboxError('stopped', { code: 'aborted', cause: e });
    throw new IsoboxError('cannot reach the server', { code: 'network', cause: e });
  }
  if (!res.ok && res.status !== 304) throw await errorFrom(res);
  return res;
}

export async function callJson(method, path, opts) {
  const res = await call(method, path, opts);
  if (res.status === 204 || res.status === 304) return null;
  return res.json();
}

/** The events of a text/event-stream answer: {event, data} (data parsed). */
export async function* events(res) {
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    buf += dec.decode(value || new Uint8Array(), { stream: !done });
    let cut;
    while ((cut = buf.search(/\r?\n\r?\n/)) >= 0) {
      const block = buf.slice(0, cut);
      buf = buf.slice(cut).replace(/^\r?\n\r?\n/, '');
      let event = 'message';
      const data = [];
      for (const line of block.split(/\r?\n/)) {
        if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      if (!data.length) continue;
      let parsed = data.join('\n');
      try {
        parsed = JSON.parse(parsed);
      } catch {
        /* keep the text */
      }
      yield { event, data: parsed };
    }
    if (done) return;
  }
}

const enc = encodeURIComponent;

/** A session (filesystem or kernel): its id, last known object, its token. */
export class Session {
  #token;

  constructor(doc) {
    this.id = doc.id;
    this.#token = doc.token;
    this.info = { ...doc };
    delete this.info.token;
  }

  /** POST /v1/sessions {runtime, type, ttlSec, ...} -> Session. */
  static async create(body, opts = {}) {
    return new Session(await callJson('POST', '/v1/sessions', { json: body, signal: opts.signal }));
  }

  #opts(extra = {}) {
    return { token: this.#token, ...extra };
  }

  #path(tail = '') {
    return `/v1/sessions/${enc(this.id)}${tail}`;
  }

  async refresh() {
    this.info = await callJson('GET', this.#path(), this.#opts());
    return this.info;
  }

  async setTtl(ttlSec) {
    this.info = await callJson('PATCH', this.#path(), this.#opts({ json: { ttlSec } }));
    return this.info;
  }

  /** DELETE: the sandbox and workspace go. keepalive: outlive the page. */
  async close({ keepalive = false } = {}) {
    await call('DELETE', this.#path(), this.#opts({ keepalive }));
  }

  /** GET fs of a directory: {path, dir, entries[], truncated?}. */
  async list(path) {
    return callJson('GET', this.#path(`/fs?path=${enc(path)}`), this.#opts());
  }

  async download(path) {
    const res = await call('GET', this.#path(`/fs?path=${enc(path)}`), this.#opts());
    return res.blob();
  }

  /** PUT fs: the body streams to the file; parents are created. */
  async upload(path, blob) {
    return callJson('PUT', this.#path(`/fs?path=${enc(path)}`), this.#opts({
      body: blob, headers: { 'Content-Type': 'application/octet-stream' },
    }));
  }

  async remove(path) {
    await call('DELETE', this.#path(`/fs?path=${enc(path)}`), this.#opts());
  }

  /** One step, streamed: yields the SSE events (stdout, stderr, display,
   * result, exception, done). */
  async *exec(body, { signal } = {}) {
    const res = await call('POST', this.#path('/exec'), this.#opts({
      json: body, signal, headers: { Accept: 'text/event-stream' },
    }));
    if (!(res.headers.get('Content-Type') || '').includes('text/event-stream')) {
      yield { event: 'done', data: await res.json() };
      return;
    }
    yield* events(res);
  }

  async interrupt() {
    return callJson('POST', this.#path('/interrupt'), this.#opts({ json: {} }));
  }

  async restart() {
    return callJson('POST', this.#path('/restart'), this.#opts({ json: {} }));
  }
}

/* ------------------------------------------------------------ volumes */

/** A volume: its id, last known object, and the same file calls as a
 * Session (list, download, upload, remove) on /v1/volumes/{id}/fs. */
export class Volume {
  constructor(doc) {
    this.id = doc.id;
    this.info = { ...doc };
  }

  /** GET /v1/volumes: the tenant's volumes, by name. */
  static async list() {
    const doc = await callJson('GET', '/v1/volumes');
    return doc.volumes.map((v) => new Volume(v));
  }

  /** POST /v1/volumes {name, sizeBytes?, from?} -> Volume. */
  static async create(body) {
    return new Volume(await callJson('POST', '/v1/volumes', { json: body }));
  }

  #path(tail = '') {
    return `/v1/volumes/${enc(this.id)}${tail}`;
  }

  async refresh() {
    this.info = await callJson('GET', this.#path());
    return this.info;
  }

  /** An instant copy named name: a new Volume. */
  copy(name) {
    return Volume.create({ name, from: this.id });
  }

  async destroy() {
    await call('DELETE', this.#path());
  }

  async list(path) {
    return callJson('GET', this.#path(`/fs?path=${enc(path)}`));
  }

  async download(path) {
    const res = await call('GET', this.#path(`/fs?path=${enc(path)}`));
    return res.blob();
  }

  async upload(path, blob) {
    return callJson('PUT', this.#path(`/fs?path=${enc(path)}`), {
      body: blob, headers: { 'Content-Type': 'application/octet-stream' },
    });
  }

  async remove(path) {
    await call('DELETE', this.#path(`/fs?path=${enc(path)}`));
  }
}

/* ------------------------------------------------------------ memory */

export const memory = {
  /** GET /v1/memory: {tenant, namespaces[], usage, quota}. */
  overview: () => callJson('GET', '/v1/memory'),
  /** GET /v1/memory/{ns}?prefix&limit&cursor. */
  list: (ns, { prefix = '', cursor = '', limit = 100 } = {}) => {
    const q = new URLSearchParams({ limit: String(limit) });
    if (prefix) q.set('prefix', prefix);
    if (cursor) q.set('cursor', cursor);
    return callJson('GET', `/v1/memory/${enc(ns)}?${q}`);
  },
  /** GET one value: {blob, type, etag, expiresAt}. */
  async get(ns, key) {
    const res = await call('GET', memoryPath(ns, key));
    return {
      blob: await res.blob(),
      type: res.headers.get('Content-Type') || 'application/octet-stream',
      etag: res.headers.get('ETag'),
      expiresAt: res.headers.get('X-Expires-At'),
    };
  },
  /** PUT: ifMatch (an ETag) makes it a compare-and-set -> {etag, expiresAt}. */
  async put(ns, key, body, { type, ttlSec, ifMatch, ifNoneMatch } = {}) {
    const headers = { 'Content-Type': type || 'application/octet-stream' };
    if (ttlSec !== undefined && ttlSec !== null && ttlSec !== '') headers['X-TTL-Seconds'] = String(ttlSec);
    if (ifMatch) headers['If-Match'] = ifMatch;
    if (ifNoneMatch) headers['If-None-Match'] = ifNoneMatch;
    const res = await call('PUT', memoryPath(ns, key), { body, headers });
    return { etag: res.headers.get('ETag'), expiresAt: res.headers.get('X-Expires-At') };
  },
  async remove(ns, key, { ifMatch } = {}) {
    await call('DELETE', memoryPath(ns, key), { headers: ifMatch ? { 'If-Match': ifMatch } : {} });
  },
};

// A key may hold '/': each segment is encoded, the slashes kept.
function memoryPath(ns, key) {
  return `/v1/memory/${enc(ns)}/${key.split('/').map(enc).join('/')}`;
}
