// node.js - the JavaScript kernel runner of isobox kernel sessions.
//
// isobox-guest (--kernel) starts this as uid 65534 and keeps it alive across
// steps: fd 3 is the control pipe (one frame per step: u32 length | nonce |
// u32 code length | code | stdin), fd 4 the result pipe (nonce | kind | u32
// length | payload; kinds d/m/e/D); see guest/guest.c, "Kernel mode".
// Cells are scripts of one persistent context, so top-level let/const/class
// persist like separate <script> tags; a cell with top-level await runs as
// an async function whose top-level declarations become globals.
'use strict';
const fs = require('fs');
const net = require('net');
const util = require('util');
const vm = require('vm');

const RES = 4;
let nonce = Buffer.alloc(16);
let count = 0;
let stdinLines = [];
let onInterrupt = null;
const timers = new Set();

function send(kind, obj) {
  const data = Buffer.from(JSON.stringify(obj));
  const h = Buffer.alloc(5);
  h.write(kind, 0, 'latin1');
  h.writeUInt32BE(data.length, 1);
  const f = Buffer.concat([nonce, h, data]);
  let off = 0;
  while (off < f.length) {
    try {
      off += fs.writeSync(RES, f, off);
    } catch (e) {
      if (e.code === 'EAGAIN' || e.code === 'EINTR') continue;
      return; // the channel is gone: the guest decides
    }
  }
}

function bundle(v) {
  const data = {'text/plain': util.inspect(v, {depth: 4, colors: false})};
  if (v !== null && typeof v === 'object') {
    for (const [m, k] of [['text/html', '_repr_html_'], ['image/svg+xml', '_repr_svg_'],
                          ['text/markdown', '_repr_markdown_'], ['application/json', '_repr_json_']]) {
      try {
        if (typeof v[k] === 'function') data[m] = v[k]();
      } catch (e) { /* a broken repr is left out */ }
    }
  }
  return {data, metadata: {}};
}

globalThis.display = (...objs) => { for (const o of objs) send('d', bundle(o)); };
globalThis.input = () => (stdinLines.length ? stdinLines.shift() : null);
globalThis.require = require;
for (const [set, clear] of [['setTimeout', 'clearTimeout'], ['setInterval', 'clearInterval']]) {
  const orig = globalThis[set];
  const origClear = globalThis[clear];
  globalThis[set] = function (...a) {
    const t = orig.apply(this, a);
    timers.add(t);
    return t;
  };
  globalThis[clear] = function (t) {
    timers.delete(t);
    return origClear.call(this, t);
  };
}
const clearAll = () => { for (const t of timers) clearTimeout(t); timers.clear(); };

// Top-level await: the cell becomes an async function; its top-level
// declarations (at column 0) become globals, its last line (when it is an
// expression) the value.
function rewriteAwait(code) {
  const lines = code.replace(/\s+$/, '').split('\n');
  const out = lines.map((l) => l
    .replace(/^(?:const|let|var)\s+([A-Za-z_$][\w$]*)/, '$1')
    .replace(/^(async\s+)?function\s*(\*?)\s*([A-Za-z_$][\w$]*)/, 'globalThis.$3 = $1function$2 $3')
    .replace(/^class\s+([A-Za-z_$][\w$]*)/, 'globalThis.$1 = class $1'));
  const i = out.length - 1;
  const last = out[i];
  if (i >= 0 && /^\S/.test(last) && !/^(?:if|for|while|do|try|switch|return|throw|globalThis\.\w+ = (?:async )?(?:function|class)|\}|\/\/)/.test(last) &&
      !/[{,(\[]\s*$/.test(last)) {
    out[i] = 'return (' + last.replace(/;\s*$/, '') + ');';
  }
  return '(async () => {\n' + out.join('\n') + '\n})()';
}

function report(e) {
  const err = e instanceof Error ? e : new Error(String(e));
  const name = e instanceof Error ? err.name : 'Uncaught';
  const stack = (err.stack || String(err)).split('\n')
    .filter((l) => !l.includes(__filename) && !l.includes('(node:'));
  try { process.stderr.write(stack.join('\n') + '\n'); } catch (x) { /* gone */ }
  send('e', {ename: name, evalue: err.message, traceback: stack});
}

async function runCell(code) {
  count++;
  const filename = 'cell-' + count;
  let value;
  if (/\bawait\b/.test(code)) {
    const p = new vm.Script(rewriteAwait(code), {filename, lineOffset: -1})
      .runInThisContext({breakOnSigint: true});
    value = await Promise.race([p, new Promise((_, rej) => {
      onInterrupt = () => rej(Object.assign(new Error('Script execution interrupted.'), {name: 'Interrupted'}));
    })]);
  } else {
    value = new vm.Script(code, {filename}).runInThisContext({breakOnSigint: true});
  }
  if (value !== undefined) {
    globalThis._ = value;
    send('m', bundle(value));
  }
}

process.on('SIGINT', () => { if (onInterrupt) onInterrupt(); });
process.on('uncaughtException', (e) => { try { report(e); } catch (x) { /* gone */ } });
process.on('unhandledRejection', () => {});

let pending = Buffer.alloc(0);
let busy = false;
const ctl = new net.Socket({fd: 3, readable: true, writable: false});
ctl.on('end', () => process.exit(0));
ctl.on('error', () => process.exit(0));
ctl.on('data', (d) => {
  pending = Buffer.concat([pending, d]);
  pump();
});

async function pump() {
  if (busy) return;
  while (pending.length >= 4) {
    const n = pending.readUInt32BE(0);
    if (pending.length < 4 + n) return;
    const body = pending.subarray(4, 4 + n);
    pending = pending.subarray(4 + n);
    busy = true;
    nonce = Buffer.from(body.subarray(0, 16));
    const clen = body.readUInt32BE(16);
    const code = body.subarray(20, 20 + clen).toString('utf8');
    stdinLines = body.subarray(20 + clen).toString('utf8').split('\n');
    if (stdinLines[stdinLines.length - 1] === '') stdinLines.pop();
    let raised = false;
    try {
      await runCell(code);
    } catch (e) {
      raised = true;
      report(e);
    }
    onInterrupt = null;
    clearAll();
    send('D', raised ? 1 : 0);
    busy = false;
  }
}
