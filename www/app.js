// app.js - the isobox playground: a small editor (line numbers, light syntax
// highlighting), runs streamed over Server-Sent Events through the same
// client library users get (isobox.mjs), and the program kept in the URL
// hash so a link reproduces it. The Files, Notebook, Memory and Volumes
// views (files.mjs, notebook.mjs, memory.mjs, volumes.mjs) open from the
// tabs.
import { Isobox, IsoboxError } from './isobox.mjs';
import { setApiKey } from './api.mjs';
import { mountFiles } from './files.mjs';
import { mountNotebook } from './notebook.mjs';
import { mountMemory } from './memory.mjs';
import { mountVolumes } from './volumes.mjs';

const $ = (id) => document.getElementById(id);
const el = {
  form: $('form'), language: $('language'), version: $('version'), example: $('example'),
  run: $('run'), stop: $('stop'), share: $('share'),
  code: $('code'), highlight: $('highlight-code'), highlightPre: $('highlight'), gutter: $('gutter'),
  stdin: $('stdin'), args: $('args'),
  wallTimeMs: $('wallTimeMs'), memoryMiB: $('memoryMiB'), outputBytes: $('outputBytes'),
  pids: $('pids'), compileWallTimeMs: $('compileWallTimeMs'),
  apiKey: $('apiKey'), forgetKey: $('forget-key'), keyBox: $('key-box'), limitsBox: $('limits-box'),
  status: $('status'), signals: $('signals'), output: $('output'),
  compilePanel: $('compile-panel'), compileSignals: $('compile-signals'), compileOutput: $('compile-output'),
  limitsApplied: $('limits-applied'),
};
const KEY_STORE = 'isobox.apiKey';
const LIMIT_FIELDS = ['wallTimeMs', 'memoryMiB', 'outputBytes', 'pids', 'compileWallTimeMs'];
const MiB = 1024 * 1024;

/* ------------------------------------------------------------ examples */

const py = {
  hello: { label: 'Hello', code: 'print("Hello from isobox!")\n' },
  stream: {
    label: 'Streaming output',
    code: 'import time\n\nfor i in range(5):\n    print(f"tick {i}", flush=True)\n    time.sleep(0.5)\nprint("done")\n',
  },
  stdin: {
    label: 'Read stdin',
    code: 'import sys\n\nfor line in sys.stdin:\n    print(line.rstrip("\\n")[::-1])\n',
    stdin: 'hello\nworld\n',
  },
  args: { label: 'Arguments', code: 'import sys\n\nprint("args:", sys.argv[1:])\n', args: 'one\ntwo words\n' },
  stderr: {
    label: 'stderr and exit code',
    code: 'import sys\n\nprint("to stdout")\nprint("to stderr", file=sys.stderr)\nsys.exit(3)\n',
  },
  timeout: { label: 'Timeout', code: 'while True:\n    pass\n', limits: { wallTimeMs: 1000 } },
  oom: {
    label: 'Out of memory',
    code: 'blocks = []\nwhile True:\n    blocks.append(b"x" * (16 << 20))  # 16 MiB, touched\n',
    limits: { memoryMiB: 64 },
  },
  flood: { label: 'Output flood', code: 'while True:\n    print("spam " * 16)\n' },
};
const EXAMPLES = {
  python: py,
  javascript: {
    hello: { label: 'Hello', code: 'console.log("Hello from isobox!");\n' },
    stream: {
      label: 'Streaming output',
      code: 'let i = 0;\nconst t = setInterval(() => {\n  console.log(`tick ${i}`);\n  if (++i === 5) clearInterval(t);\n}, 500);\n',
    },
    stdin: {
      label: 'Read stdin',
      code: 'let s = "";\nprocess.stdin.on("data", (d) => (s += d));\nprocess.stdin.on("end", () => console.log(s.toUpperCase()));\n',
      stdin: 'hello\nworld\n',
    },
    args: { label: 'Arguments', code: 'console.log("args:", process.argv.slice(2));\n', args: 'one\ntwo words\n' },
    stderr: { label: 'stderr and exit code', code: 'console.log("to stdout");\nconsole.error("to stderr");\nprocess.exit(3);\n' },
    timeout: { label: 'Timeout', code: 'for (;;) {}\n', limits: { wallTimeMs: 1000 } },
    oom: {
      label: 'Out of memory',
      code: 'const blocks = [];\nfor (;;) blocks.push(Buffer.alloc(16 << 20, 1)); // 16 MiB, touched\n',
      limits: { memoryMiB: 64 },
    },
  },
  bash: {
    hello: { label: 'Hello', code: 'echo "Hello from isobox!"\n' },
    stream: { label: 'Streaming output', code: 'for i in 1 2 3 4 5; do\n  echo "tick $i"\n  sleep 0.5\ndone\n' },
    stdin: { label: 'Read stdin', code: 'while read -r line; do\n  echo "${line^^}"\ndone\n', stdin: 'hello\nworld\n' },
    args: { label: 'Arguments', code: 'echo "$# args: $*"\n', args: 'one\ntwo words\n' },
    stderr: { label: 'stderr and exit code', code: 'echo "to stdout"\necho "to stderr" >&2\nexit 3\n' },
    timeout: { label: 'Timeout', code: 'while :; do :; done\n', limits: { wallTimeMs: 1000 } },
  },
  c: {
    hello: { label: 'Hello', code: '#include <stdio.h>\n\nint main(void)\n{\n\tputs("Hello from isobox!");\n\treturn 0;\n}\n' },
    compile_error: { label: 'Compile error', code: 'int main(void)\n{\n\treturn undefined_name;\n}\n' },
    oom: {
      label: 'Out of memory',
      code: '#include <stdlib.h>\n#include <string.h>\n\nint main(void)\n{\n\tfor (;;) {\n\t\tchar *p = malloc(16 << 20);\n\t\tif (p)\n\t\t\tmemset(p, 1, 16 << 20);\n\t}\n}\n',
      limits: { memoryMiB: 64 },
    },
  },
  cpp: {
    hello: { label: 'Hello', code: '#include <iostream>\n\nint main()\n{\n\tstd::cout << "Hello from isobox!" << std::endl;\n}\n' },
    compile_error: { label: 'Compile error', code: 'int main()\n{\n\treturn undefined_name;\n}\n' },
  },
  go: {
    hello: { label: 'Hello', code: 'package main\n\nimport "fmt"\n\nfunc main() {\n\tfmt.Println("Hello from isobox!")\n}\n' },
  },
  rust: { hello: { label: 'Hello', code: 'fn main() {\n    println!("Hello from isobox!");\n}\n' } },
  java: {
    hello: {
      label: 'Hello',
      code: 'public class Main {\n    public static void main(String[] args) {\n        System.out.println("Hello from isobox!");\n    }\n}\n',
    },
  },
  ruby: { hello: { label: 'Hello', code: 'puts "Hello from isobox!"\n' } },
};
EXAMPLES['python-slim'] = py;
EXAMPLES.lua = {
  hello: { label: 'Hello', code: 'print("Hello from isobox!")\n' },
  stream: {
    label: 'Streaming output',
    code: 'for i = 0, 4 do\n  print("tick " .. i)\n  io.stdout:flush()\n  local t = os.clock()\n  while os.clock() - t < 0.5 do end\nend\n',
  },
  timeout: { label: 'Timeout', code: 'while true do end\n', limits: { wallTimeMs: 1000 } },
};
EXAMPLES.fortran = {
  hello: { label: 'Hello', code: 'program hello\n  print *, "Hello from isobox!"\nend program hello\n' },
};

function examplesFor(lang) {
  return EXAMPLES[lang] || EXAMPLES[(lang || '').split('-')[0]] || {};
}

/* ------------------------------------------------------------ highlighting */

const C_KW = 'auto break case char const continue default do double else enum extern float for goto if inline int long register restrict return short signed sizeof static struct switch typedef union unsigned void volatile while bool true false NULL nullptr class public private protected virtual template typename namespace using new delete this throw try catch operator override final constexpr noexcept include define ifdef ifndef endif pragma';
const SYNTAX = {
  python: {
    com: '#.*',
    str: '[rRbBuUfF]{0,2}(?:"""[\\s\\S]*?(?:"""|$(?![\\s\\S]))|\'\'\'[\\s\\S]*?(?:\'\'\'|$(?![\\s\\S]))|"(?:\\\\.|[^"\\\\\\n])*"?|\'(?:\\\\.|[^\'\\\\\\n])*\'?)',
    kw: 'False None True and as assert async await break class continue def del elif else except finally for from global if import in is lambda nonlocal not or pass raise return try while with yield match case self print len range',
  },
  javascript: {
    com: '\\/\\/.*|\\/\\*[\\s\\S]*?(?:\\*\\/|$(?![\\s\\S]))',
    str: '"(?:\\\\.|[^"\\\\\\n])*"?|\'(?:\\\\.|[^\'\\\\\\n])*\'?|`(?:\\\\[\\s\\S]|[^`\\\\])*`?',
    kw: 'async await break case catch class const continue debugger default delete do else export extends false finally for function if import in instanceof let new null of return static super switch this throw true try typeof undefined var void while with yield console process require',
  },
  bash: {
    com: '(?<![\\w$\\{#])#.*',
    str: '"(?:\\\\.|[^"\\\\])*"?|\'[^\']*\'?',
    kw: 'if then else elif fi for while until do done case esac in function return exit local export readonly declare echo printf read set unset shift source test true false break continue',
  },
  c: {
    com: '\\/\\/.*|\\/\\*[\\s\\S]*?(?:\\*\\/|$(?![\\s\\S]))',
    str: '"(?:\\\\.|[^"\\\\\\n])*"?|\'(?:\\\\.|[^\'\\\\\\n])*\'?',
    kw: C_KW,
  },
  go: {
    com: '\\/\\/.*|\\/\\*[\\s\\S]*?(?:\\*\\/|$(?![\\s\\S]))',
    str: '"(?:\\\\.|[^"\\\\\\n])*"?|\'(?:\\\\.|[^\'\\\\\\n])*\'?|`[^`]*`?',
    kw: 'break case chan const continue default defer else fallthrough for func go goto if import interface map package range return select struct switch type var true false nil int string bool byte rune error float64 make len append',
  },
  rust: {
    com: '\\/\\/.*|\\/\\*[\\s\\S]*?(?:\\*\\/|$(?![\\s\\S]))',
    str: '"(?:\\\\.|[^"\\\\])*"?',
    kw: 'as async await break const continue crate else enum extern false fn for if impl in let loop match mod move mut pub ref return self Self static struct super trait true type unsafe use where while i32 i64 u8 u32 u64 usize f64 bool String Vec Option Some None Ok Err',
  },
  java: {
    com: '\\/\\/.*|\\/\\*[\\s\\S]*?(?:\\*\\/|$(?![\\s\\S]))',
    str: '"(?:\\\\.|[^"\\\\\\n])*"?|\'(?:\\\\.|[^\'\\\\\\n])*\'?',
    kw: 'abstract boolean break byte case catch char class continue default do double else enum extends final finally float for if implements import instanceof int interface long new null package private protected public return short static super switch this throw throws try void volatile while true false var String System',
  },
  ruby: {
    com: '#.*',
    str: '"(?:\\\\.|[^"\\\\])*"?|\'(?:\\\\.|[^\'\\\\])*\'?',
    kw: 'alias and begin break case class def do else elsif end ensure false for if in module next nil not or redo rescue retry return self super then true undef unless until when while yield puts print require',
  },
};
SYNTAX.lua = {
  com: '--\\[\\[[\\s\\S]*?(?:\\]\\]|$(?![\\s\\S]))|--.*',
  str: '"(?:\\\\.|[^"\\\\\\n])*"?|\'(?:\\\\.|[^\'\\\\\\n])*\'?|\\[\\[[\\s\\S]*?(?:\\]\\]|$(?![\\s\\S]))',
  kw: 'and break do else elseif end false for function goto if in local nil not or repeat return then true until while print require',
};
SYNTAX.cpp = SYNTAX.c;
SYNTAX.typescript = SYNTAX.javascript;
SYNTAX.sh = SYNTAX.bash;
const NUM = '\\b(?:0[xXbBoO][\\da-fA-F_]+|\\d[\\d_]*(?:\\.\\d+)?(?:[eE][+-]?\\d+)?)\\b';
const WORD = '[A-Za-z_$][\\w$]*';
const compiled = new Map();

function grammar(lang) {
  const base = (lang || '').split('-')[0];
  const key = SYNTAX[lang] ? lang : SYNTAX[base] ? base : null;
  if (!key) return null;
  if (!compiled.has(key)) {
    const s = SYNTAX[key];
    compiled.set(key, {
      re: new RegExp(`(${s.com})|(${s.str})|(${NUM})|(${WORD})`, 'gm'),
      kw: new Set(s.kw.split(' ')),
    });
  }
  return compiled.get(key);
}

const escapeHtml = (s) => s.replace(/[&<>]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : '&gt;'));

function highlight(code, lang) {
  const g = grammar(lang);
  if (!g) return escapeHtml(code);
  let out = '';
  let last = 0;
  g.re.lastIndex = 0;
  let m;
  while ((m = g.re.exec(code)) !== null) {
    if (m[0] === '') {
      g.re.lastIndex++;
      continue;
    }
    out += escapeHtml(code.slice(last, m.index));
    let cls = null;
    if (m[1] !== undefined) cls = 'com';
    else if (m[2] !== undefined) cls = 'str';
    else if (m[3] !== undefined) cls = 'num';
    else if (g.kw.has(m[4])) cls = 'kw';
    else if (code[g.re.lastIndex] === '(') cls = 'fn';
    out += cls ? `<span class="tok-${cls}">${escapeHtml(m[0])}</span>` : escapeHtml(m[0]);
    last = g.re.lastIndex;
  }
  return out + escapeHtml(code.slice(last));
}

/* ------------------------------------------------------------ editor */

let paintQueued = false;
let lineCount = 0;

function paint() {
  paintQueued = false;
  const code = el.code.value;
  // A trailing newline needs a visible line in the <pre> as well.
  el.highlight.innerHTML = highlight(code, el.language.value) + (code.endsWith('\n') || code === '' ? ' ' : '');
  const n = code.split('\n').length;
  if (n !== lineCount) {
    lineCount = n;
    let s = '';
    for (let i = 1; i <= n; i++) s += i + '\n';
    el.gutter.textContent = s;
  }
  syncScroll();
}

function queuePaint() {
  if (!paintQueued) {
    paintQueued = true;
    requestAnimationFrame(paint);
  }
}

function syncScroll() {
  el.highlightPre.scrollTop = el.code.scrollTop;
  el.highlightPre.scrollLeft = el.code.scrollLeft;
  el.gutter.scrollTop = el.code.scrollTop;
}

function indentUnit() {
  return el.language.value === 'go' ? '\t' : '    ';
}

// Replace [start, end) of the editor with text, keeping the browser's undo
// history where it can.
function replaceRange(start, end, text, selStart, selEnd) {
  const ta = el.code;
  ta.focus();
  ta.setSelectionRange(start, end);
  let ok = false;
  try {
    ok = document.execCommand('insertText', false, text);
  } catch {
    ok = false;
  }
  if (!ok) {
    ta.setRangeText(text, start, end, 'end');
    ta.dispatchEvent(new Event('input'));
  }
  if (selStart !== undefined) ta.setSelectionRange(selStart, selEnd ?? selStart);
}

let tabLeaves = false;

function onEditorKey(e) {
  const ta = el.code;
  if (e.key === 'Escape') {
    tabLeaves = true; // the next Tab moves focus on, as everywhere else
    return;
  }
  if (e.key === 'Tab' && !e.ctrlKey && !e.altKey && !e.metaKey) {
    if (tabLeaves) return;
    e.preventDefault();
    const v = ta.value;
    const { selectionStart: s, selectionEnd: t } = ta;
    const unit = indentUnit();
    const lineStart = v.lastIndexOf('\n', s - 1) + 1;
    if (!e.shiftKey && s === t) {
      replaceRange(s, t, unit);
      return;
    }
    // Indent or dedent every line the selection touches.
    const blockEnd = t > s && v[t - 1] === '\n' ? t - 1 : t;
    const lines = v.slice(lineStart, blockEnd).split('\n');
    let first = 0;
    const changed = lines.map((ln, i) => {
      if (!e.shiftKey) {
        if (i === 0) first = unit.length;
        return unit + ln;
      }
      const m = ln.match(/^(\t| {1,4})/);
      const cut = m ? m[0].length : 0;
      if (i === 0) first = -Math.min(cut, s - lineStart);
      return ln.slice(cut);
    });
    const text = changed.join('\n');
    const delta = text.length - (blockEnd - lineStart);
    replaceRange(lineStart, blockEnd, text, Math.max(lineStart, s + first), t + delta);
    return;
  }
  tabLeaves = false;
  if (e.key === 'Enter' && !e.ctrlKey && !e.metaKey && !e.altKey && !e.shiftKey) {
    const v = ta.value;
    const s = ta.selectionStart;
    const lineStart = v.lastIndexOf('\n', s - 1) + 1;
    const line = v.slice(lineStart, s);
    let indent = line.match(/^[ \t]*/)[0];
    if (/[:{[(]\s*$/.test(line)) indent += indentUnit();
    e.preventDefault();
    replaceRange(s, ta.selectionEnd, '\n' + indent);
  }
}

/* ------------------------------------------------------------ runtimes */

let runtimes = [];

function languages() {
  const seen = new Map();
  for (const rt of runtimes) {
    if (rt.available === false) continue;
    if (!seen.has(rt.language)) seen.set(rt.language, []);
    seen.get(rt.language).push(rt);
  }
  return seen;
}

function fillLanguages() {
  el.language.textContent = '';
  for (const [name, list] of languages()) {
    const o = document.createElement('option');
    o.value = name;
    o.textContent = list[0].compiled ? `${name} (compiled)` : name;
    el.language.append(o);
  }
}

function fillVersions(want) {
  const list = languages().get(el.language.value) || [];
  el.version.textContent = '';
  for (const rt of list) {
    const o = document.createElement('option');
    o.value = rt.version;
    o.textContent = rt.version;
    el.version.append(o);
  }
  if (want && list.some((rt) => rt.version === want)) el.version.value = want;
  el.version.disabled = list.length <= 1;
}

function currentRuntime() {
  return runtimes.find((rt) => rt.language === el.language.value && rt.version === el.version.value);
}

function fillExamples() {
  const ex = examplesFor(el.language.value);
  el.example.textContent = '';
  const none = document.createElement('option');
  none.value = '';
  none.textContent = Object.keys(ex).length ? 'Choose…' : 'none for this language';
  el.example.append(none);
  for (const [id, e] of Object.entries(ex)) {
    const o = document.createElement('option');
    o.value = id;
    o.textContent = e.label;
    el.example.append(o);
  }
}

// The code the editor held when an example (or nothing) was loaded: a
// language switch replaces it only while the user has not edited it.
let pristine = '';

function loadExample(id) {
  const e = examplesFor(el.language.value)[id];
  if (!e) return;
  el.code.value = e.code;
  pristine = e.code;
  el.stdin.value = e.stdin || '';
  el.args.value = e.args || '';
  for (const f of LIMIT_FIELDS) el[f].value = (e.limits && e.limits[f]) ?? '';
  if (e.limits) el.limitsBox.open = true;
  paint();
  saveState();
}

function onLanguageChange() {
  fillVersions();
  fillExamples();
  if (el.code.value.trim() === '' || el.code.value === pristine) {
    const ex = examplesFor(el.language.value);
    if (ex.hello) loadExample('hello');
  }
  paint();
  saveState();
}

/* ------------------------------------------------------------ URL state */

function stateParams() {
  const p = new URLSearchParams();
  p.set('language', el.language.value);
  if (el.version.value) p.set('version', el.version.value);
  p.set('code', el.code.value);
  if (el.stdin.value) p.set('stdin', el.stdin.value);
  if (el.args.value) p.set('args', el.args.value);
  for (const f of LIMIT_FIELDS) if (el[f].value) p.set(f, el[f].value);
  return p;
}

let saveTimer = null;
function saveState() {
  clearTimeout(saveTimer);
  saveTimer = setTimeout(() => {
    const hash = '#' + stateParams().toString();
    if (location.hash !== hash) history.replaceState(null, '', hash);
  }, 250);
}

function applyHash() {
  if (location.hash.length < 2) return false;
  const p = new URLSearchParams(location.hash.slice(1));
  const lang = p.get('language');
  if (lang) {
    if (!languages().has(lang)) {
      setStatus(`The shared program is for ${lang}, which this server does not offer.`, 'warn');
    } else {
      el.language.value = lang;
    }
  }
  fillVersions(p.get('version'));
  fillExamples();
  if (p.has('code')) {
    el.code.value = p.get('code');
    pristine = '';
  }
  el.stdin.value = p.get('stdin') || '';
  el.args.value = p.get('args') || '';
  let anyLimit = false;
  for (const f of LIMIT_FIELDS) {
    el[f].value = p.get(f) || '';
    anyLimit ||= !!p.get(f);
  }
  if (anyLimit) el.limitsBox.open = true;
  paint();
  return true;
}

/* ------------------------------------------------------------ results */

function setStatus(text, kind = '', outcome = '') {
  el.status.textContent = text;
  el.status.className = 'status' + (kind ? ' ' + kind : '');
  el.status.dataset.outcome = outcome;
}

function sentence(s) {
  s = String(s || '').trim();
  if (!s) return '';
  s = s[0].toUpperCase() + s.slice(1);
  return /[.!?]$/.test(s) ? s : s + '.';
}

function errorSentence(e) {
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
  if (e.status === 401) {
    return sentence(e.message) + ' This server needs an API key: enter it under “API key” below the editor.';
  }
  if (e.status === 429) {
    const wait = e.retryAfter ? ` Try again in ${e.retryAfter} s.` : ' Try again shortly.';
    return sentence(e.message) + wait;
  }
  return sentence(e.message) + (e.requestId ? ` (request ${e.requestId})` : '');
}

const fmtBytes = (n) => (n >= MiB && n % MiB === 0 ? `${n / MiB} MiB` : `${n} bytes`);

// The badges of one stage and the sentence that sums it up.
function describe(stage, limits, isCompile) {
  const badges = [];
  const add = (key, text, cls) => badges.push({ key, text, cls });
  const wall = isCompile ? limits.compileWallTimeMs : limits.wallTimeMs;
  const mem = isCompile ? limits.compileMemoryBytes : limits.memoryBytes;
  add('exitCode', `exit code ${stage.exitCode}`, stage.exitCode === 0 ? 'good' : 'bad');
  if (stage.signal) add('signal', `signal ${stage.signal}`, 'bad');
  if (stage.timedOut) add('timedOut', `timed out (${wall} ms limit)`, 'bad');
  if (stage.oomKilled) add('oomKilled', `out of memory (${fmtBytes(mem)} limit)`, 'bad');
  if (stage.truncated) add('truncated', `output truncated at ${fmtBytes(limits.outputBytes)}`, 'bad');
  add('durationMs', `${stage.durationMs} ms`, '');
  const who = isCompile ? 'The compiler' : 'The program';
  let text;
  let outcome;
  if (stage.timedOut) {
    text = `Timed out: ${who.toLowerCase()} ran past its ${wall} ms wall-time limit and was killed.`;
    outcome = 'timeout';
  } else if (stage.oomKilled) {
    text = `Out of memory: ${who.toLowerCase()} went over its ${fmtBytes(mem)} limit and was killed.`;
    outcome = 'oom';
  } else if (stage.truncated) {
    text = `Output truncated: stdout and stderr reached ${fmtBytes(limits.outputBytes)}, so ${who.toLowerCase()} was stopped.`;
    outcome = 'truncated';
  } else if (stage.signal) {
    text = `${who} was killed by ${stage.signal}.`;
    outcome = 'signal';
  } else if (stage.exitCode !== 0) {
    text = `${who} exited with code ${stage.exitCode} after ${stage.durationMs} ms.`;
    outcome = 'error';
  } else {
    text = `${who} finished with exit code 0 in ${stage.durationMs} ms.`;
    outcome = 'ok';
  }
  return { badges, text, outcome };
}

function renderBadges(ul, badges) {
  ul.textContent = '';
  for (const b of badges) {
    const li = document.createElement('li');
    li.textContent = b.text;
    li.dataset.signal = b.key;
    if (b.cls) li.className = b.cls;
    ul.append(li);
  }
}

function appendOutput(pre, text, isErr) {
  const nearBottom = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 40;
  const last = pre.lastChild;
  if (isErr) {
    if (last && last.nodeType === 1 && last.classList.contains('err')) last.append(text);
    else {
      const span = document.createElement('span');
      span.className = 'err';
      span.textContent = text;
      pre.append(span);
    }
  } else if (last && last.nodeType === 3) {
    last.appendData(text);
  } else {
    pre.append(text);
  }
  if (nearBottom) pre.scrollTop = pre.scrollHeight;
}

function renderResult(res) {
  const lim = res.limits || {};
  if (res.compile) {
    el.compilePanel.hidden = false;
    const c = describe(res.compile, lim, true);
    renderBadges(el.compileSignals, c.badges);
    // The stream may have been missed (e.g. a non-streaming proxy): fill in.
    if (!el.compileOutput.textContent && (res.compile.stdout || res.compile.stderr)) {
      appendOutput(el.compileOutput, res.compile.stdout, false);
      appendOutput(el.compileOutput, res.compile.stderr, true);
    }
    if (!el.compileOutput.textContent) {
      const span = document.createElement('span');
      span.className = 'note';
      span.textContent = '(no compiler output)';
      el.compileOutput.append(span);
    }
  }
  if (!res.run) {
    const c = describe(res.compile, lim, true);
    setStatus(`Compilation failed: ${c.text} The program did not run.`, 'error', 'compile_error');
    el.signals.textContent = '';
  } else {
    const r = describe(res.run, lim, false);
    renderBadges(el.signals, r.badges);
    setStatus(r.text, r.outcome === 'ok' ? 'ok' : 'error', r.outcome);
    if (!el.output.textContent && (res.run.stdout || res.run.stderr)) {
      appendOutput(el.output, res.run.stdout, false);
      appendOutput(el.output, res.run.stderr, true);
    }
    if (!res.run.stdout && !res.run.stderr && !el.output.textContent) {
      const span = document.createElement('span');
      span.className = 'note';
      span.textContent = '(no output)';
      el.output.append(span);
    }
  }
  const parts = [];
  if (lim.wallTimeMs) parts.push(`wall time ${lim.wallTimeMs} ms`);
  if (lim.memoryBytes) parts.push(`memory ${fmtBytes(lim.memoryBytes)}`);
  if (lim.outputBytes) parts.push(`output ${fmtBytes(lim.outputBytes)}`);
  if (lim.pids) parts.push(`${lim.pids} processes`);
  el.limitsApplied.textContent = parts.length ? `Limits applied: ${parts.join(', ')}.` : '';
}

/* ------------------------------------------------------------ running */

let running = null;
let runCount = 0;

function buildRequest() {
  const req = { language: el.language.value, code: el.code.value };
  if (el.version.value) req.version = el.version.value;
  if (el.stdin.value) req.stdin = el.stdin.value;
  const args = el.args.value.split('\n');
  while (args.length && args[args.length - 1] === '') args.pop();
  if (args.length) req.args = args;
  const limits = {};
  const num = (f) => (el[f].value === '' ? null : Number(el[f].value));
  if (num('wallTimeMs') !== null) limits.wallTimeMs = num('wallTimeMs');
  if (num('memoryMiB') !== null) limits.memoryBytes = Math.round(num('memoryMiB') * MiB);
  if (num('outputBytes') !== null) limits.outputBytes = num('outputBytes');
  if (num('pids') !== null) limits.pids = num('pids');
  if (num('compileWallTimeMs') !== null && currentRuntime()?.compiled) {
    limits.compileWallTimeMs = num('compileWallTimeMs');
  }
  if (Object.keys(limits).length) req.limits = limits;
  return req;
}

async function run() {
  if (running || !el.language.value) return;
  const ctl = new AbortController();
  running = ctl;
  // For scripts driving the page (the browser tests): how many runs began.
  document.body.dataset.runs = String(++runCount);
  const t0 = performance.now();
  el.run.disabled = true;
  el.stop.disabled = false;
  el.output.textContent = '';
  el.compileOutput.textContent = '';
  el.signals.textContent = '';
  el.compileSignals.textContent = '';
  el.limitsApplied.textContent = '';
  el.compilePanel.hidden = !currentRuntime()?.compiled;
  setStatus('Running…', '', 'running');
  // On one-column layouts the result is below the editor: bring it up.
  if (window.matchMedia('(max-width: 900px)').matches) {
    el.status.scrollIntoView({ block: 'start', behavior: 'smooth' });
  }
  const ticker = setInterval(() => {
    if (el.status.dataset.outcome === 'running') {
      el.status.textContent = `Running… ${((performance.now() - t0) / 1000).toFixed(1)} s`;
    }
  }, 100);
  saveState();
  const box = new Isobox({ baseUrl: '', apiKey: el.apiKey.value.trim(), timeoutMs: 120000 });
  let done = false;
  try {
    for await (const ev of box.stream(buildRequest(), { signal: ctl.signal })) {
      if (ev.event === 'stdout' || ev.event === 'stderr') {
        const pre = ev.data.stage === 'compile' ? el.compileOutput : el.output;
        if (ev.data.stage === 'compile') el.compilePanel.hidden = false;
        appendOutput(pre, ev.data.chunk, ev.event === 'stderr');
      } else if (ev.event === 'done') {
        done = true;
        renderResult(ev.data);
      }
    }
    if (!done) setStatus('The server closed the stream without a result.', 'error', 'failed');
  } catch (e) {
    setStatus(errorSentence(e), e.code === 'aborted' ? 'warn' : 'error', e.code === 'aborted' ? 'stopped' : 'failed');
    if (e.status === 401) el.keyBox.open = true;
  } finally {
    clearInterval(ticker);
    running = null;
    el.run.disabled = false;
    el.stop.disabled = true;
  }
}

/* ------------------------------------------------------------ views */

// Sessions opened by this page. Their tokens live only here: when the page
// goes away nobody can use them again, so they are closed (fetch with
// keepalive outlives the page).
const openSessions = new Set();
const viewCtx = {
  languages: () => [...languages().keys()],
  track: (s) => openSessions.add(s),
  untrack: (s) => openSessions.delete(s),
};
window.addEventListener('pagehide', () => {
  for (const s of openSessions) {
    s.close({ keepalive: true }).catch(() => {});
  }
  openSessions.clear();
});

const VIEWS = { run: null, files: mountFiles, notebook: mountNotebook, memory: mountMemory, volumes: mountVolumes };
const mounted = new Set(['run']);
const tabs = () => [...document.querySelectorAll('[role="tab"]')];

function showView(name, focus = false) {
  if (!(name in VIEWS)) name = 'run';
  for (const t of tabs()) {
    const on = t.id === `tab-${name}`;
    t.setAttribute('aria-selected', String(on));
    t.tabIndex = on ? 0 : -1;
    if (on && focus) t.focus();
  }
  for (const v of Object.keys(VIEWS)) $(`view-${v}`).hidden = v !== name;
  document.body.dataset.view = name;
  if (!mounted.has(name) && (runtimes.length || name === 'memory' || name === 'volumes')) {
    mounted.add(name);
    VIEWS[name](viewCtx);
  }
  try {
    sessionStorage.setItem('isobox.view', name);
  } catch {
    /* storage may be off */
  }
}

function initTabs() {
  for (const t of tabs()) {
    t.addEventListener('click', () => showView(t.id.slice(4)));
    t.addEventListener('keydown', (e) => {
      const list = tabs();
      const i = list.indexOf(t);
      let j = null;
      if (e.key === 'ArrowRight') j = (i + 1) % list.length;
      else if (e.key === 'ArrowLeft') j = (i - 1 + list.length) % list.length;
      else if (e.key === 'Home') j = 0;
      else if (e.key === 'End') j = list.length - 1;
      if (j === null) return;
      e.preventDefault();
      showView(list[j].id.slice(4), true);
    });
  }
}

/* ------------------------------------------------------------ wiring */

async function loadRuntimes() {
  try {
    const box = new Isobox({ baseUrl: '', apiKey: el.apiKey.value.trim(), timeoutMs: 15000 });
    runtimes = await box.runtimes();
  } catch (e) {
    setStatus(`Cannot load the languages: ${errorSentence(e)}`, 'error', 'failed');
    return;
  }
  fillLanguages();
  // A view opened while the languages were loading gets them now.
  showView(document.body.dataset.view);
  if (!el.language.options.length) {
    setStatus('This server offers no languages yet.', 'error', 'failed');
    return;
  }
  if (!applyHash()) {
    const pyName = languages().has('python') ? 'python' : el.language.options[0].value;
    el.language.value = pyName;
    fillVersions();
    fillExamples();
    loadExample('hello');
  }
  if (!el.status.classList.contains('warn')) setStatus('Ready. Press Run or Ctrl+Enter.', '', 'ready');
  let view = 'run';
  try {
    view = sessionStorage.getItem('isobox.view') || 'run';
  } catch {
    view = 'run';
  }
  if (document.body.dataset.view === 'run') showView(view);
}

function init() {
  el.apiKey.value = localStorage.getItem(KEY_STORE) || '';
  setApiKey(el.apiKey.value);
  el.apiKey.addEventListener('change', () => {
    const v = el.apiKey.value.trim();
    setApiKey(v);
    if (v) localStorage.setItem(KEY_STORE, v);
    else localStorage.removeItem(KEY_STORE);
  });
  el.forgetKey.addEventListener('click', () => {
    el.apiKey.value = '';
    setApiKey('');
    localStorage.removeItem(KEY_STORE);
    setStatus('The API key was removed from this browser.', '', 'ready');
  });
  el.code.addEventListener('input', () => {
    queuePaint();
    saveState();
  });
  el.code.addEventListener('scroll', syncScroll);
  el.code.addEventListener('keydown', onEditorKey);
  el.code.addEventListener('blur', () => {
    tabLeaves = false;
  });
  for (const f of ['stdin', 'args', ...LIMIT_FIELDS]) el[f].addEventListener('input', saveState);
  el.language.addEventListener('change', onLanguageChange);
  el.version.addEventListener('change', saveState);
  el.example.addEventListener('change', () => {
    if (el.example.value) loadExample(el.example.value);
    el.example.value = '';
  });
  el.form.addEventListener('submit', (e) => {
    e.preventDefault();
    run();
  });
  el.stop.addEventListener('click', () => running && running.abort());
  el.share.addEventListener('click', async () => {
    clearTimeout(saveTimer);
    history.replaceState(null, '', '#' + stateParams().toString());
    try {
      await navigator.clipboard.writeText(location.href);
      setStatus('A link to this program was copied.', 'ok', el.status.dataset.outcome);
    } catch {
      setStatus('The address bar now links to this program: copy it from there.', '', el.status.dataset.outcome);
    }
  });
  document.addEventListener('keydown', (e) => {
    if ((e.ctrlKey || e.metaKey) && e.key === 'Enter' && document.body.dataset.view === 'run') {
      e.preventDefault();
      run();
    }
  });
  window.addEventListener('hashchange', () => {
    const want = '#' + stateParams().toString();
    if (location.hash !== want) applyHash();
  });
  document.body.dataset.view = 'run';
  initTabs();
  paint();
  loadRuntimes();
}

init();
