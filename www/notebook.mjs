// notebook.mjs - the Notebook view: cells run in a kernel session
// (POST /v1/sessions {type: "kernel"}), Shift+Enter runs a cell, stdout and
// stderr stream in, then its results: text, HTML in a sandboxed iframe
// that can run no script and fetch nothing, images as <img>, tracebacks.
// Interrupt, restart and the session's TTL. A server without kernels
// answers 400 kernel_disabled: that is shown as it is.
import { Session } from './api.mjs';
import { h, errorSentence, fmtUntil, fmtDuration, fmtTime, setStatus, appendOutput } from './ui.mjs';

const $ = (id) => document.getElementById(id);
// Most preferred first: one representation of a bundle is shown.
const MIME_ORDER = ['image/png', 'image/jpeg', 'image/svg+xml', 'text/html', 'text/markdown',
  'application/json', 'text/latex', 'text/plain'];
// The HTML of a result may not run scripts nor fetch anything: sandboxed
// frame (no allow-scripts) and a policy that allows inline styles and
// data: images only.
const FRAME_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:";
// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;?]*[ -/]*[@-~]/g;

export function mountNotebook(ctx) {
  const el = {
    form: $('nb-new'), runtime: $('nb-runtime'), ttl: $('nb-ttl'), start: $('nb-start'),
    info: $('nb-session'), id: $('nb-id'), lang: $('nb-lang'), expires: $('nb-expires'),
    interrupt: $('nb-interrupt'), restart: $('nb-restart'), close: $('nb-close'),
    status: $('nb-status'), cells: $('nb-cells'), add: $('nb-add'), wall: $('nb-wall'),
  };
  let session = null;
  let starting = null;
  let runningCell = null;
  let cellSeq = 0;

  const langs = ctx.languages();
  const preferred = ['python', 'javascript'].filter((l) => langs.includes(l));
  for (const lang of [...preferred, ...langs.filter((l) => !preferred.includes(l))]) {
    el.runtime.append(h('option', { value: lang }, lang));
  }
  const status = (text, kind, outcome) => setStatus(el.status, text, kind, outcome);

  function showSession() {
    const s = session && session.info;
    el.info.hidden = !s;
    el.form.hidden = !!s;
    if (!s) return;
    el.id.textContent = s.id;
    el.lang.textContent = `${s.runtime} ${s.version || ''}`.trim();
    el.expires.textContent = `${fmtUntil(s.expiresAt)} (after ${fmtDuration(s.ttlSec)} without use)`;
    el.expires.title = fmtTime(s.expiresAt);
  }

  async function start() {
    if (session) return session;
    if (starting) return starting;
    el.start.disabled = true;
    status(`Starting a ${el.runtime.value} kernel…`, '', 'busy');
    starting = (async () => {
      try {
        const minutes = Number(el.ttl.value) || 0;
        session = await Session.create({
          runtime: el.runtime.value, type: 'kernel', ttlSec: minutes > 0 ? Math.round(minutes * 60) : undefined,
        });
        ctx.track(session);
        showSession();
        status(`Kernel ${session.id} is ready. Shift+Enter runs a cell.`, 'ok', 'ready');
        return session;
      } catch (e) {
        if (e.code === 'kernel_disabled' || e.code === 'kernel_unavailable') {
          status(`No kernel: ${errorSentence(e)} [${e.code}]`, 'error', e.code);
        } else {
          status(errorSentence(e), 'error', 'failed');
        }
        return null;
      } finally {
        el.start.disabled = false;
        starting = null;
      }
    })();
    return starting;
  }

  el.form.addEventListener('submit', (e) => {
    e.preventDefault();
    start();
  });

  el.interrupt.addEventListener('click', async () => {
    if (!session) return;
    try {
      await session.interrupt();
      status('Interrupt sent: the running cell stops, its variables are kept.', 'warn', 'interrupting');
    } catch (e) {
      status(e.code === 'session_idle' ? 'Nothing is running.' : errorSentence(e), 'warn', 'failed');
    }
  });
  el.restart.addEventListener('click', async () => {
    if (!session) return;
    try {
      await session.restart();
      for (const c of el.cells.querySelectorAll('.cell')) c.querySelector('.prompt').textContent = '[ ]:';
      status('The kernel was restarted: its variables are gone.', 'ok', 'restarted');
    } catch (e) {
      status(errorSentence(e), 'error', 'failed');
    }
  });
  el.close.addEventListener('click', async () => {
    if (!session) return;
    const s = session;
    try {
      await s.close();
    } catch (e) {
      if (e.status !== 404) return status(errorSentence(e), 'error', 'failed');
    }
    ctx.untrack(s);
    session = null;
    showSession();
    status(`Kernel ${s.id} was closed.`, 'ok', 'closed');
  });

  /* ---------------------------------------------------------- cells */

  function addCell(after, code = '') {
    const n = ++cellSeq;
    const ta = h('textarea', {
      class: 'cell-code', rows: '2', spellcheck: 'false', autocapitalize: 'off', wrap: 'off',
      'aria-label': `Cell ${n} code (Shift+Enter runs it)`,
    });
    ta.value = code;
    const cell = h('section', { class: 'cell', dataset: { cell: String(n) }, 'aria-label': `Cell ${n}` },
      h('div', { class: 'cell-head' },
        h('span', { class: 'prompt' }, '[ ]:'),
        h('button', { type: 'button', class: 'small', 'aria-label': `Run cell ${n}`, onclick: () => runCell(cell) }, 'Run'),
        h('button', { type: 'button', class: 'small', 'aria-label': `Delete cell ${n}`, onclick: () => removeCell(cell) }, 'Delete')),
      ta,
      h('div', { class: 'cell-out', 'aria-live': 'polite' },
        h('pre', { class: 'stream output', hidden: true }),
        h('div', { class: 'results' }),
        h('pre', { class: 'traceback output', hidden: true }),
        h('p', { class: 'cell-status hint' })));
    ta.addEventListener('input', () => grow(ta));
    ta.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && e.shiftKey) {
        e.preventDefault();
        runCell(cell, true);
      } else if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        e.stopPropagation();
        runCell(cell);
      }
    });
    if (after && after.nextSibling) el.cells.insertBefore(cell, after.nextSibling);
    else el.cells.append(cell);
    grow(ta);
    return cell;
  }

  function grow(ta) {
    ta.rows = Math.min(30, Math.max(2, ta.value.split('\n').length));
  }

  function removeCell(cell) {
    const next = cell.nextElementSibling || cell.previousElementSibling;
    cell.remove();
    if (!el.cells.children.length) addCell(null);
    (next || el.cells.firstElementChild).querySelector('textarea').focus();
  }

  function clearOut(cell) {
    const out = cell.querySelector('.cell-out');
    const stream = out.querySelector('.stream');
    stream.textContent = '';
    stream.hidden = true;
    out.querySelector('.results').textContent = '';
    const tb = out.querySelector('.traceback');
    tb.textContent = '';
    tb.hidden = true;
    out.querySelector('.cell-status').textContent = '';
  }

  // Cells run one at a time, in the order they were asked for; a cell that
  // fails or is interrupted cancels the ones queued behind it (as Jupyter).
  let queue = Promise.resolve();
  let generation = 0;

  function runCell(cell, advance = false) {
    if (advance) {
      const next = cell.nextElementSibling || addCell(cell);
      next.querySelector('textarea').focus();
    }
    if (cell.dataset.state === 'queued' || cell.dataset.state === 'running') return;
    const gen = generation;
    cell.dataset.state = 'queued';
    cell.querySelector('.prompt').textContent = '[*]:';
    cell.querySelector('.cell-status').textContent = runningCell ? 'Waiting for the cells before it…' : '';
    queue = queue.then(() => execCell(cell, gen)).catch(() => {});
  }

  async function execCell(cell, gen) {
    const ta = cell.querySelector('textarea');
    if (gen !== generation) {
      cell.dataset.state = 'cancelled';
      cell.querySelector('.prompt').textContent = '[ ]:';
      cell.querySelector('.cell-status').textContent = 'Not run: a cell before it failed or was interrupted.';
      return;
    }
    const s = await start();
    if (!s) {
      cell.dataset.state = 'error';
      cell.querySelector('.prompt').textContent = '[ ]:';
      cell.querySelector('.cell-status').textContent = 'Not run: no kernel (see above).';
      generation++;
      return;
    }
    runningCell = cell;
    cell.dataset.state = 'running';
    clearOut(cell);
    const out = cell.querySelector('.cell-out');
    const stream = out.querySelector('.stream');
    const results = out.querySelector('.results');
    const cstat = out.querySelector('.cell-status');
    cell.querySelector('.prompt').textContent = '[*]:';
    cstat.textContent = 'Running…';
    let shown = 0;
    let excShown = false;
    let done = null;
    try {
      const body = { code: ta.value };
      // The server clamps it to its ceiling; the answer's limits say what ran.
      if (Number(el.wall.value) > 0) body.limits = { wallTimeMs: Math.round(Number(el.wall.value) * 1000) };
      for await (const ev of s.exec(body)) {
        if (ev.event === 'stdout' || ev.event === 'stderr') {
          stream.hidden = false;
          appendOutput(stream, ev.data.chunk, ev.event === 'stderr');
        } else if (ev.event === 'display' || ev.event === 'result') {
          const r = ev.data && ev.data.data ? ev.data : { data: ev.data };
          results.append(renderBundle(r, ev.event === 'result'));
          shown++;
        } else if (ev.event === 'exception') {
          showError(out, ev.data);
          excShown = true;
        } else if (ev.event === 'done') {
          done = ev.data;
        }
      }
      if (!done) throw new Error('the server closed the stream without a result');
      const k = done.kernel || {};
      if (!shown) for (const r of k.results || []) results.append(renderBundle(r, !!r.isMainResult));
      if (k.error && !excShown) showError(out, k.error);
      const run = done.run || {};
      if (!stream.textContent && (run.stdout || run.stderr) && !done.kernel) {
        stream.hidden = false;
        appendOutput(stream, run.stdout, false);
        appendOutput(stream, run.stderr, true);
      }
      cell.querySelector('.prompt').textContent = `[${k.executionCount ?? ' '}]:`;
      const notes = [];
      if (run.timedOut) notes.push('timed out');
      if (run.oomKilled) notes.push('out of memory');
      if (k.interrupted) notes.push('interrupted (variables kept)');
      if (k.restarted) notes.push('the kernel was restarted: variables are gone');
      if (run.truncated) notes.push('output truncated');
      notes.push(`${run.durationMs ?? '?'} ms`);
      cstat.textContent = sentence(notes.join(', '));
      cell.dataset.state = k.error || run.exitCode ? 'error' : 'done';
      if (k.error || k.interrupted || k.restarted || run.timedOut || run.oomKilled) generation++;
      s.refresh().then(showSession, () => {});
    } catch (e) {
      generation++;
      cell.dataset.state = 'error';
      cell.querySelector('.prompt').textContent = '[!]:';
      cstat.textContent = e.status ? errorSentence(e) : `Failed: ${e.message}`;
      if (e.code === 'session_not_found') {
        ctx.untrack(s);
        session = null;
        showSession();
        status('The kernel session is gone (expired or closed): the next cell starts a new one.', 'warn', 'gone');
      }
    } finally {
      runningCell = null;
    }
  }

  function showError(out, err) {
    const tb = out.querySelector('.traceback');
    tb.hidden = false;
    const lines = Array.isArray(err.traceback) && err.traceback.length
      ? err.traceback.join('\n').replace(ANSI, '')
      : `${err.name || 'Error'}: ${err.value || err.message || ''}`;
    tb.textContent = lines.endsWith('\n') ? lines : lines + '\n';
    // The kernel also writes the traceback to stderr (for plain clients):
    // show it once, in the traceback box.
    const stream = out.querySelector('.stream');
    const want = tb.textContent.trim();
    for (const span of stream.querySelectorAll('.err')) {
      const t = span.textContent;
      const at = want ? t.lastIndexOf(want) : -1;
      if (at >= 0) span.textContent = (t.slice(0, at) + t.slice(at + want.length)).replace(/^\n+$/, '');
      if (!span.textContent) span.remove();
    }
    if (!stream.textContent.trim()) stream.hidden = true;
  }

  el.add.addEventListener('click', () => {
    const last = el.cells.lastElementChild;
    addCell(last).querySelector('textarea').focus();
  });

  setInterval(() => {
    if (session && !document.hidden && !el.info.hidden) showSession();
  }, 15000);

  addCell(null, ctx.languages().includes('python') ? '1 + 1' : '');
  showSession();
  status('Start a kernel, or press Shift+Enter in a cell to start one and run it.', '', 'idle');
}

function sentence(s) {
  return s ? s[0].toUpperCase() + s.slice(1) + '.' : '';
}

/** One result bundle {data: {mime: value}, isMainResult} as a DOM node. */
export function renderBundle(r, isMain) {
  const data = r.data || {};
  const mime = MIME_ORDER.find((m) => m in data) || Object.keys(data)[0];
  const box = h('div', { class: 'result' + (isMain ? ' main' : ''), dataset: { mime: mime || '' } });
  if (!mime) return box;
  const v = data[mime];
  const alt = typeof data['text/plain'] === 'string' ? data['text/plain'] : 'output image';
  if (mime === 'image/png' || mime === 'image/jpeg') {
    box.append(h('img', { src: `data:${mime};base64,${String(v).replace(/\s+/g, '')}`, alt }));
  } else if (mime === 'image/svg+xml') {
    // As an <img>, an SVG runs no script and loads nothing.
    box.append(h('img', { src: `data:image/svg+xml;charset=utf-8,${encodeURIComponent(String(v))}`, alt }));
  } else if (mime === 'text/html') {
    box.append(htmlFrame(String(v)));
  } else if (mime === 'application/json') {
    box.append(h('pre', { class: 'output' }, JSON.stringify(v, null, 2)));
  } else {
    box.append(h('pre', { class: 'output' }, typeof v === 'string' ? v : JSON.stringify(v)));
  }
  return box;
}

// sandbox without allow-scripts: nothing in it runs; allow-same-origin only
// lets this page read its height. The CSP stops every fetch but data:.
function htmlFrame(html) {
  html = sanitize(html);
  const doc = `<!doctype html><html><head><meta charset="utf-8">` +
    `<meta http-equiv="Content-Security-Policy" content="${FRAME_CSP}">` +
    '<style>body{margin:.3rem;font:14px/1.4 system-ui,sans-serif;color:#1c1c1c;background:#fff}' +
    'table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.15rem .4rem}</style>' +
    `</head><body>${html}</body></html>`;
  const frame = h('iframe', { class: 'html-result', sandbox: 'allow-same-origin', title: 'HTML output', srcdoc: doc });
  frame.addEventListener('load', () => {
    try {
      const b = frame.contentDocument.body;
      frame.style.height = `${Math.max(32, Math.min(600, b.scrollHeight + 16))}px`;
    } catch {
      /* keep the default height */
    }
  });
  return frame;
}

// Parsed inertly (DOMParser fetches and runs nothing), elements that could
// run code, navigate or fetch by themselves are dropped, with every on*
// attribute: the frame's sandbox and policy are the guard, this a second one.
const DROP = 'script,meta,link,base,iframe,frame,frameset,object,embed,applet,form,noscript,template,portal';
function sanitize(html) {
  const doc = new DOMParser().parseFromString(`<body>${html}`, 'text/html');
  for (const n of doc.querySelectorAll(DROP)) n.remove();
  for (const n of doc.body.querySelectorAll('*')) {
    for (const a of [...n.attributes]) {
      if (/^on/i.test(a.name) || (/^(src|href|xlink:href|action|formaction|srcset|background|poster)$/i.test(a.name) &&
        !/^(data:image\/|#)/i.test(a.value.trim()))) n.removeAttribute(a.name);
    }
  }
  return doc.body.innerHTML;
}
