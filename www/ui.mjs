// ui.mjs - small DOM and wording helpers shared by the playground's views:
// an element builder, sizes and times for people, API errors as
// sentences, saving a Blob as a download, status lines.
import { IsoboxError } from './isobox.mjs';

/** h('button', {class: 'x', onclick}, 'text', child...) */
export function h(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') e.addEventListener(k.slice(2), v);
    else if (k === 'class') e.className = v;
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else if (k in e && typeof v !== 'string') e[k] = v;
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) e.append(c);
  return e;
}

export function sentence(s) {
  s = String(s || '').trim();
  if (!s) return '';
  s = s[0].toUpperCase() + s.slice(1);
  return /[.!?]$/.test(s) ? s : s + '.';
}

/** An API error (IsoboxError) as a sentence a person can act on. */
export function errorSentence(e) {
  if (!(e instanceof IsoboxError)) return sentence(`Something went wrong: ${e && e.message}`);
  switch (e.code) {
    case 'network':
      return 'Cannot reach the isobox server. Is it running?';
    case 'timeout':
      return 'The server did not answer in time.';
    case 'aborted':
      return 'Stopped.';
    default:
      break;
  }
  if (e.status === 401 && e.code !== 'invalid_session_token') {
    return sentence(e.message) + ' This server needs an API key: enter it under “API key” in the Run view.';
  }
  if (e.status === 429) {
    const wait = e.retryAfter ? ` Try again in ${e.retryAfter} s.` : ' Try again shortly.';
    return sentence(e.message) + wait;
  }
  return sentence(e.message) + (e.requestId ? ` (request ${e.requestId})` : '');
}

const UNITS = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];

/** 0 bytes, 5 bytes, 1.5 KiB, 512 MiB */
export function fmtSize(n) {
  n = Number(n) || 0;
  if (n < 1024) return `${n} ${n === 1 ? 'byte' : 'bytes'}`;
  let i = 0;
  while (n >= 1024 && i < UNITS.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n >= 100 || Number.isInteger(n) ? Math.round(n) : n.toFixed(1)} ${UNITS[i]}`;
}

/** "in 23 h 59 min", "in 40 s", "2 min ago" for an RFC 3339 time. */
export function fmtUntil(iso, now = Date.now()) {
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return '';
  let s = Math.round((t - now) / 1000);
  const past = s < 0;
  s = Math.abs(s);
  let text;
  if (s < 90) text = `${s} s`;
  else if (s < 5400) text = `${Math.round(s / 60)} min`;
  else if (s < 172800) text = `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
  else text = `${Math.round(s / 86400)} days`;
  return past ? `${text} ago` : `in ${text}`;
}

/** 90 s, 60 min, 24 h, 7 days for a number of seconds. */
export function fmtDuration(sec) {
  sec = Math.round(Number(sec) || 0);
  if (sec < 120) return `${sec} s`;
  if (sec < 7200) return `${Math.round(sec / 60)} min`;
  if (sec < 172800) return `${Math.round(sec / 360) / 10} h`;
  return `${Math.round(sec / 8640) / 10} days`;
}

export function fmtTime(iso) {
  const t = Date.parse(iso);
  return Number.isFinite(t) ? new Date(t).toLocaleString() : '';
}

/** Offer a Blob as a download named name (no URL carries a token). */
export function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = h('a', { href: url, download: name || 'download', hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

/** Set a status line: kind '', 'ok', 'warn' or 'error'; outcome for scripts. */
export function setStatus(node, text, kind = '', outcome = '') {
  node.textContent = text;
  node.className = 'status' + (kind ? ' ' + kind : '');
  node.dataset.outcome = outcome || kind || 'info';
}

/** Append streamed text to a <pre>, stderr in a red span, kept scrolled. */
export function appendOutput(pre, text, isErr) {
  if (!text) return;
  const nearBottom = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 40;
  const last = pre.lastChild;
  if (isErr) {
    if (last && last.nodeType === 1 && last.classList.contains('err')) last.append(text);
    else pre.append(h('span', { class: 'err' }, text));
  } else if (last && last.nodeType === 3) {
    last.appendData(text);
  } else {
    pre.append(text);
  }
  if (nearBottom) pre.scrollTop = pre.scrollHeight;
}

/** Whether bytes are readable text (UTF-8, no NUL or stray controls). */
export function asText(bytes) {
  let s;
  try {
    s = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return null;
  }
  // eslint-disable-next-line no-control-regex
  return /[\x00-\x08\x0e-\x1a\x1c-\x1f]/.test(s) ? null : s;
}
