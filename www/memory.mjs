// memory.mjs - the Memory view: the tenant's namespaces and usage, the keys
// of a namespace (paged), one value (text shown and editable, anything
// else offered as a download), put with an optional TTL and delete, both
// ETag-aware: an overwrite only replaces the version that was loaded.
import { memory } from './api.mjs';
import { h, errorSentence, fmtSize, fmtUntil, fmtTime, saveBlob, setStatus, asText } from './ui.mjs';

const $ = (id) => document.getElementById(id);
const TEXT_TYPE = /^(text\/|application\/(json|xml|javascript|x-ndjson|yaml|toml)|[^;]*\+(json|xml))/i;

export function mountMemory() {
  const el = {
    usage: $('mem-usage'), namespaces: $('mem-namespaces'), reload: $('mem-reload'),
    listForm: $('mem-list'), listNs: $('mem-list-ns'), prefix: $('mem-prefix'),
    keys: $('mem-keys'), keysBody: $('mem-keys-body'), more: $('mem-more'), keysHead: $('mem-keys-head'),
    form: $('mem-form'), ns: $('mem-ns'), key: $('mem-key'), type: $('mem-type'), ttl: $('mem-ttl'),
    value: $('mem-value'), file: $('mem-file'), binary: $('mem-binary'), binaryText: $('mem-binary-text'),
    save: $('mem-save'), load: $('mem-load'), del: $('mem-delete'), cas: $('mem-cas'), etag: $('mem-etag'),
    meta: $('mem-meta'), status: $('mem-status'),
  };
  // What was loaded: its address and ETag (the compare-and-set basis).
  let loaded = null;
  let binaryBlob = null;
  let cursor = '';
  let listedNs = '';

  const status = (text, kind, outcome) => setStatus(el.status, text, kind, outcome);

  function showEtag() {
    const same = loaded && loaded.ns === el.ns.value && loaded.key === el.key.value;
    el.etag.textContent = same && loaded.etag ? loaded.etag : 'none: a new key';
  }

  async function overview() {
    try {
      const doc = await memory.overview();
      const u = doc.usage || {};
      const q = doc.quota || {};
      el.usage.textContent = `Tenant ${doc.tenant}: ${fmtSize(u.bytes)} of ${fmtSize(q.bytes)}, ` +
        `${u.keys} of ${q.keys} keys used.`;
      el.namespaces.replaceChildren(...(doc.namespaces.length ? doc.namespaces.map((n) => h('li', {},
        h('button', { type: 'button', class: 'linkish', onclick: () => listKeys(n.namespace) }, n.namespace),
        h('span', { class: 'hint' }, ` ${n.keys} ${n.keys === 1 ? 'key' : 'keys'}, ${fmtSize(n.bytes)}`)))
        : [h('li', { class: 'hint' }, 'No namespaces yet: put a value to make one.')]));
    } catch (e) {
      status(errorSentence(e), 'error', 'failed');
    }
  }

  async function listKeys(ns, more = false) {
    if (!ns) return;
    if (!more) {
      cursor = '';
      el.keysBody.textContent = '';
    }
    listedNs = ns;
    el.listNs.value = ns;
    try {
      const doc = await memory.list(ns, { prefix: el.prefix.value, cursor });
      el.keysHead.textContent = `Keys in ${ns}`;
      el.keys.hidden = false;
      for (const it of doc.items || doc.keys.map((key) => ({ key }))) {
        el.keysBody.append(h('tr', { dataset: { key: it.key } },
          h('th', { scope: 'row' },
            h('button', { type: 'button', class: 'linkish', onclick: () => loadValue(ns, it.key) }, it.key)),
          h('td', {}, it.size === undefined ? '' : fmtSize(it.size)),
          h('td', { title: it.expiresAt ? fmtTime(it.expiresAt) : '' }, it.expiresAt ? fmtUntil(it.expiresAt) : 'never'),
          h('td', {}, it.updatedAt ? fmtTime(it.updatedAt) : '')));
      }
      if (!el.keysBody.children.length) {
        el.keysBody.append(h('tr', {}, h('td', { colspan: '4', class: 'hint' }, 'No keys.')));
      }
      cursor = doc.nextCursor || '';
      el.more.hidden = !!doc.listComplete || !cursor;
    } catch (e) {
      status(errorSentence(e), 'error', 'failed');
    }
  }

  function showValue(text) {
    binaryBlob = null;
    el.binary.hidden = true;
    el.value.hidden = false;
    el.value.value = text;
  }

  async function loadValue(ns, key) {
    el.ns.value = ns;
    el.key.value = key;
    try {
      const v = await memory.get(ns, key);
      loaded = { ns, key, etag: v.etag };
      el.type.value = v.type;
      el.ttl.value = '';
      const text = TEXT_TYPE.test(v.type) || !/octet-stream|^image\/|^audio\/|^video\/|zip|pdf/i.test(v.type)
        ? asText(new Uint8Array(await v.blob.arrayBuffer())) : null;
      if (text !== null) {
        showValue(text);
      } else {
        binaryBlob = v.blob;
        el.value.hidden = true;
        el.value.value = '';
        el.binary.hidden = false;
        el.binaryText.textContent = `Binary value, ${fmtSize(v.blob.size)} (${v.type}).`;
      }
      el.meta.textContent = v.expiresAt ? `Expires ${fmtUntil(v.expiresAt)} (${fmtTime(v.expiresAt)}).` : 'Never expires.';
      showEtag();
      status(`Loaded ${ns}/${key} (${fmtSize(v.blob.size)}).`, 'ok', 'loaded');
    } catch (e) {
      if (e.status === 404) {
        loaded = null;
        showValue('');
        el.meta.textContent = '';
        showEtag();
      }
      status(errorSentence(e), 'error', e.status === 404 ? 'not_found' : 'failed');
    }
  }

  el.form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const ns = el.ns.value.trim();
    const key = el.key.value;
    const same = loaded && loaded.ns === ns && loaded.key === key;
    const file = el.file.files[0];
    const body = file || binaryBlob || el.value.value;
    const type = file ? (file.type || 'application/octet-stream') : el.type.value.trim() || undefined;
    const opts = { type, ttlSec: el.ttl.value === '' ? undefined : el.ttl.value };
    if (el.cas.checked) {
      if (same) opts.ifMatch = loaded.etag;
      else opts.ifNoneMatch = '*';
    }
    el.save.disabled = true;
    try {
      const r = await memory.put(ns, key, body, opts);
      loaded = { ns, key, etag: r.etag };
      if (file) {
        el.file.value = '';
        await loadValue(ns, key);
      }
      showEtag();
      el.meta.textContent = r.expiresAt ? `Expires ${fmtUntil(r.expiresAt)} (${fmtTime(r.expiresAt)}).` : 'Never expires.';
      status(`Saved ${ns}/${key}.`, 'ok', 'saved');
      await overview();
      if (listedNs === ns || !listedNs) await listKeys(ns);
    } catch (err) {
      if (err.status === 412) {
        status(same
          ? `Not saved: ${ns}/${key} changed since you loaded it. Load it again, or untick “only if unchanged” to overwrite.`
          : `Not saved: ${ns}/${key} already exists. Load it first, or untick “only if unchanged” to overwrite.`,
        'error', 'conflict');
      } else {
        status(errorSentence(err), 'error', 'failed');
      }
    } finally {
      el.save.disabled = false;
    }
  });

  el.load.addEventListener('click', () => {
    if (!el.ns.value.trim() || !el.key.value) {
      status('Give a namespace and a key to load.', 'warn', 'empty');
      return;
    }
    loadValue(el.ns.value.trim(), el.key.value);
  });

  el.del.addEventListener('click', async () => {
    const ns = el.ns.value.trim();
    const key = el.key.value;
    if (!ns || !key) {
      status('Give a namespace and a key to delete.', 'warn', 'empty');
      return;
    }
    const same = loaded && loaded.ns === ns && loaded.key === key;
    try {
      await memory.remove(ns, key, { ifMatch: el.cas.checked && same ? loaded.etag : undefined });
      loaded = null;
      showValue('');
      el.meta.textContent = '';
      showEtag();
      status(`Deleted ${ns}/${key}.`, 'ok', 'deleted');
      await overview();
      if (listedNs === ns) await listKeys(ns);
    } catch (err) {
      status(err.status === 412 ? `Not deleted: ${ns}/${key} changed since you loaded it.` : errorSentence(err),
        'error', err.status === 412 ? 'conflict' : 'failed');
    }
  });

  el.binary.querySelector('button').addEventListener('click', () => {
    if (binaryBlob) saveBlob(binaryBlob, el.key.value.split('/').pop() || 'value');
  });
  // Typing a value replaces a binary one.
  el.value.addEventListener('input', () => {
    binaryBlob = null;
  });
  el.ns.addEventListener('input', showEtag);
  el.key.addEventListener('input', showEtag);
  el.reload.addEventListener('click', overview);
  el.listForm.addEventListener('submit', (e) => {
    e.preventDefault();
    listKeys(el.listNs.value.trim());
  });
  el.more.addEventListener('click', () => listKeys(listedNs, true));

  showEtag();
  overview();
  setStatus(el.status, 'Values kept by the service, per API key, across runs and sessions.', '', 'idle');
}
