# Runs inside the image at build time (see images/README.md).
#
# tsc itself takes ~8 s under gVisor for hello world: loading typescript.js
# and parsing/binding the standard library and @types/node declarations
# (137 files, ~55,000 lines) dominate. isobox-tsc is a compiler driver run
# from a Node.js start-up snapshot that holds TypeScript already loaded and
# those declaration files already parsed and bound, so only the user's files
# are parsed, checked and emitted. A warm sandbox starts the same snapshot
# as a compiler server (isobox-tsc-server): it compiles a program of its own
# a few times, so the checker and emitter are compiled to machine code, and
# then waits on fd 3 for the job's "{files}" and compiles them as
# isobox-tsc would (docs/ARCHITECTURE.md, "Compiler servers").
set -eu
d=/usr/lib/isobox/tsc
mkdir -p "$d"
cat >"$d/snapshot.js" <<'JS'
'use strict';
// Built with: node --snapshot-blob tsc.blob --build-snapshot snapshot.js
// Run as:     node --snapshot-blob tsc.blob DIR FILE...  (DIR: the sources,
//             an absolute path)
//   or:       node --snapshot-blob tsc.blob isobox-server 3<ARGV
//             (a warm sandbox's compiler server: warms up, then reads
//             FILE... from fd 3, each ended by a NUL, and compiles them in
//             its working directory)
// Compiles the .ts/.tsx/.mts/.cts files among FILE (imports are followed)
// into /tmp/out (rootDir /box); diagnostics go to stderr, in tsc's
// "--pretty false" format; exit status 1 on any error (nothing is emitted
// then), 0 otherwise.
const fs = require('fs');
const path = require('path');
const vm = require('vm');
const v8 = require('v8');
const Module = require('module');

const TS = '/usr/share/nodejs/typescript/lib/typescript.js';
// A snapshot's entry script may only require built-in modules: load
// typescript.js as a CommonJS module by hand.
const mod = { exports: {} };
vm.runInThisContext(Module.wrap(fs.readFileSync(TS, 'utf8')), { filename: TS })
  .call(mod.exports, mod.exports, require, mod, TS, path.dirname(TS));
const ts = mod.exports;

const SETTINGS = {
  target: 'es2022', lib: ['es2022'], module: 'commonjs',
  moduleResolution: 'node', esModuleInterop: true, strict: true,
  skipLibCheck: true, allowJs: true, resolveJsonModule: true,
  forceConsistentCasingInFileNames: true, noEmitOnError: true,
  types: ['node'], typeRoots: ['/usr/share/nodejs/@types'],
  rootDir: '/box', outDir: '/tmp/out', newLine: 'lf',
};
const conv = ts.convertCompilerOptionsFromJson(SETTINGS, '/box');
if (conv.errors.length) throw new Error(ts.formatDiagnostics(conv.errors, fmtHost()));
const OPTIONS = conv.options;

function fmtHost() {
  return { getCanonicalFileName: (f) => f, getCurrentDirectory: () => process.cwd(),
           getNewLine: () => '\n' };
}

// Parse and bind the default library and @types/node once, here: a program
// of one throw-away file, with the same options minus rootDir/outDir.
const warmDir = fs.mkdtempSync('/tmp/isobox-tsc-');
const warmFile = path.join(warmDir, 'warm.ts');
fs.writeFileSync(warmFile, 'import * as fs from "fs";\n' +
  'const s: string = fs.readFileSync(0, "utf8");\nconsole.log(process.argv, s);\n');
const warmOptions = Object.assign({}, OPTIONS, { noEmit: true });
delete warmOptions.rootDir; delete warmOptions.outDir;
let warm = ts.createProgram([warmFile], warmOptions);
const warmDiags = ts.getPreEmitDiagnostics(warm);
if (warmDiags.length) throw new Error(ts.formatDiagnostics(warmDiags, fmtHost()));
const cache = new Map();
for (const f of warm.getSourceFiles()) {
  if (f.fileName !== warmFile) cache.set(f.fileName, f);
}
warm = null;
fs.rmSync(warmDir, { recursive: true });
if (cache.size < 50) throw new Error('only ' + cache.size + ' library files cached');

function compile(dir, args, options, write) {
  // process.cwd() is cached in the snapshot: chdir() resets the cache.
  process.chdir(dir);
  const files = args.filter((f) => /\.(ts|tsx|mts|cts)$/.test(f));
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile;
  host.getSourceFile = (name, ...rest) =>
    cache.get(name) || getSourceFile.call(host, name, ...rest);
  if (write) host.writeFile = write;
  const program = ts.createProgram(files.map((f) => path.resolve(f)), options, host);
  let diags = ts.getPreEmitDiagnostics(program);
  const isError = (d) => d.category === ts.DiagnosticCategory.Error;
  if (!diags.some(isError)) diags = diags.concat(program.emit().diagnostics);
  let out = '';
  if (files.length === 0) out += 'isobox-tsc: no .ts file to compile\n';
  if (diags.length) out += ts.formatDiagnostics(diags, fmtHost());
  return { out, failed: files.length === 0 || diags.some(isError) };
}

// The server's warm-up: a program of its own in a directory of its own under
// /tmp (its rootDir; removed again, and its output is never written),
// compiled WARM_RUNS times, the last time with type errors.
const WARM_RUNS = 4;
const WARM_SRC = {
  'main.ts': 'import * as fs from "fs";\nimport { Shape, area, total } from "./shapes";\n' +
    'interface Opts { verbose?: boolean; names: readonly string[] }\n' +
    'class Counter<T> { private m = new Map<T, number>();\n' +
    '  add(k: T): this { this.m.set(k, (this.m.get(k) ?? 0) + 1); return this; }\n' +
    '  get entries(): [T, number][] { return [...this.m.entries()]; } }\n' +
    'async function main(o: Opts): Promise<number> {\n' +
    '  const c = new Counter<string>();\n  for (const n of o.names) c.add(n);\n' +
    '  const shapes: Shape[] = [{ kind: "circle", r: 1 }, { kind: "rect", w: 2, h: 3 }];\n' +
    '  const text = fs.existsSync("/nonexistent") ? fs.readFileSync(0, "utf8") : `${o.names.length}`;\n' +
    '  if (o.verbose) console.log(c.entries, shapes.map(area), total(shapes), text);\n' +
    '  return await Promise.resolve(c.entries.length);\n}\n' +
    'main({ names: process.argv.slice(2) }).then((n) => process.exit(n > 9 ? 1 : 0));\n',
  'shapes.ts': 'export type Shape = { kind: "circle"; r: number } | { kind: "rect"; w: number; h: number };\n' +
    'export function area(s: Shape): number {\n' +
    '  switch (s.kind) { case "circle": return Math.PI * s.r ** 2; case "rect": return s.w * s.h; }\n}\n' +
    'export const total = (xs: Shape[]): number => xs.reduce((a, s) => a + area(s), 0);\n',
  'bad.ts': 'import { area } from "./shapes";\nconst n: number = "s";\narea({ kind: "square" });\n',
};
function warmUp(waiting) {
  const dir = fs.mkdtempSync('/tmp/isobox-tsc-');
  try {
    for (const [name, text] of Object.entries(WARM_SRC)) fs.writeFileSync(path.join(dir, name), text);
    const options = Object.assign({}, OPTIONS, { rootDir: dir });
    const discard = () => {};
    for (let i = 0; i < WARM_RUNS && !waiting(); i++) {
      const args = i === WARM_RUNS - 1 ? ['bad.ts'] : ['main.ts', 'shapes.ts'];
      const r = compile(dir, args, options, discard);
      if (r.failed !== (i === WARM_RUNS - 1)) throw new Error('isobox-tsc-server: warm-up: ' + r.out);
    }
  } finally {
    process.chdir('/');
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// Reads the job's argv from fd 3; the warm-up stops early once it is there.
function serve() {
  const chunks = [];
  const buf = Buffer.alloc(65536);
  let eof = false;
  // A second, non-blocking open of the same pipe: a warm-up run is only
  // started while nothing is waiting on it.
  let peek = -1;
  try {
    peek = fs.openSync('/proc/self/fd/3', fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (e) {
    // Then the warm-up runs to its end.
  }
  warmUp(() => {
    if (peek < 0) return false;
    try {
      const n = fs.readSync(peek, buf, 0, buf.length, null);
      if (n === 0) eof = true;
      else chunks.push(Buffer.from(buf.subarray(0, n)));
    } catch (e) {
      if (e.code !== 'EAGAIN') throw e;
    }
    return eof || chunks.length > 0;
  });
  if (peek >= 0) fs.closeSync(peek);
  for (let n; !eof && (n = fs.readSync(3, buf, 0, buf.length, null)) > 0;) chunks.push(Buffer.from(buf.subarray(0, n)));
  fs.closeSync(3);
  return Buffer.concat(chunks).toString().split('\0').slice(0, -1);
}

function main() {
  // The server compiles where it was started (the sandbox's /box).
  const server = process.argv[1] === 'isobox-server';
  const dir = server ? fs.realpathSync.native('.') : process.argv[1];
  const args = server ? serve() : process.argv.slice(2);
  const r = compile(dir, args, OPTIONS);
  if (r.out) process.stderr.write(r.out);
  if (r.failed) process.exitCode = 1;
}
v8.startupSnapshot.setDeserializeMainFunction(main);
JS
cd "$d"
node --snapshot-blob tsc.blob --build-snapshot snapshot.js
chmod 0644 tsc.blob

cat >/usr/local/bin/isobox-tsc <<'SH'
#!/bin/sh
# isobox-tsc FILE... - type-check and compile TypeScript into /tmp/out (see
# /usr/lib/isobox/tsc/snapshot.js for the options).
exec node --snapshot-blob /usr/lib/isobox/tsc/tsc.blob "$PWD" "$@"
SH
cat >/usr/local/bin/isobox-tsc-server <<'SH'
#!/bin/sh
# isobox-tsc-server 3<ARGV - a warm sandbox's compiler: warms up, then reads
# isobox-tsc's FILE... from fd 3 (each ended by a NUL) and does what
# isobox-tsc FILE... does in this directory.
exec node --snapshot-blob /usr/lib/isobox/tsc/tsc.blob isobox-server
SH
cat >/usr/local/bin/isobox-ts-run <<'SH'
#!/bin/sh
# isobox-ts-run ENTRY [ARG...] - run the JavaScript compiled from ENTRY.
e=$1
shift
case $e in
*.mts) e=${e%.mts}.mjs ;;
*.cts) e=${e%.cts}.cjs ;;
*.tsx) e=${e%.tsx}.js ;;
*) e=${e%.ts}.js ;;
esac
exec node "/tmp/out/$e" "$@"
SH
chmod 0755 /usr/local/bin/isobox-tsc /usr/local/bin/isobox-tsc-server /usr/local/bin/isobox-ts-run

# Fail the build unless the driver compiles, runs and reports type errors.
t=$(mktemp -d) && cd "$t"
printf 'import { g } from "./lib/util";\nconsole.log(g(process.argv[2]));\n' >main.ts
mkdir lib && printf 'export function g(s: string): string { return "hi " + s; }\n' >lib/util.ts
# rootDir is /box: compile there like the sandbox does.
mkdir -p /box && cp -r main.ts lib /box/ && cd /box
isobox-tsc main.ts lib/util.ts
test "$(isobox-ts-run main.ts x)" = "hi x"
printf 'const n: number = "s";\n' >bad.ts
if isobox-tsc bad.ts 2>err; then echo "type error not reported" >&2; exit 1; fi
grep -q "TS2322" err

# And unless the compiler server gives what isobox-tsc gives: the same
# stdout, stderr, exit status and emitted files.
same() {
	rm -rf /tmp/out
	isobox-tsc "$@" </dev/null >/tmp/o1 2>/tmp/e1 && r1=0 || r1=$?
	(find /tmp/out -type f -exec md5sum {} + 2>/dev/null || true) | sort >/tmp/l1
	rm -rf /tmp/out
	{ sleep 1; printf '%s\0' "$@"; } | isobox-tsc-server 3<&0 </dev/null >/tmp/o2 2>/tmp/e2 && r2=0 || r2=$?
	(find /tmp/out -type f -exec md5sum {} + 2>/dev/null || true) | sort >/tmp/l2
	if [ "$r1" != "$r2" ] || ! cmp -s /tmp/o1 /tmp/o2 || ! cmp -s /tmp/e1 /tmp/e2 ||
		! cmp -s /tmp/l1 /tmp/l2 || ! [ -s /tmp/l1 -o -s /tmp/e1 ]; then
		echo "isobox-tsc-server $*: status $r2, not $r1 as isobox-tsc:" >&2
		diff /tmp/e1 /tmp/e2 >&2 || true
		diff /tmp/l1 /tmp/l2 >&2 || true
		return 1
	fi
}
printf 'type U = "a" | 1 | { x: string };\nconst u: U = { x: 2 };\nlet s: string = 3;\n' >union.ts
same main.ts lib/util.ts
same bad.ts
same union.ts main.ts notes.txt
same main.ts
rm -f /tmp/o1 /tmp/o2 /tmp/e1 /tmp/e2 /tmp/l1 /tmp/l2
cd / && rm -rf "$t" /tmp/out /box/* /box/.[!.]* 2>/dev/null || true
