# Runs inside the image at build time (see images/README.md).
#
# tsc itself takes ~8 s under gVisor for hello world: loading typescript.js
# and parsing/binding the standard library and @types/node declarations
# (137 files, ~55,000 lines) dominate. isobox-tsc is a compiler driver run
# from a Node.js start-up snapshot that holds TypeScript already loaded and
# those declaration files already parsed and bound, so only the user's files
# are parsed, checked and emitted.
set -eu
d=/usr/lib/isobox/tsc
mkdir -p "$d"
cat >"$d/snapshot.js" <<'JS'
'use strict';
// Built with: node --snapshot-blob tsc.blob --build-snapshot snapshot.js
// Run as:     node --snapshot-blob tsc.blob DIR FILE...  (DIR: the sources)
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

function main() {
  // process.cwd() is cached in the snapshot: the wrapper passes $PWD first,
  // and chdir() resets the cache.
  process.chdir(process.argv[1]);
  const files = process.argv.slice(2).filter((f) => /\.(ts|tsx|mts|cts)$/.test(f));
  const host = ts.createCompilerHost(OPTIONS);
  const getSourceFile = host.getSourceFile;
  host.getSourceFile = (name, ...rest) =>
    cache.get(name) || getSourceFile.call(host, name, ...rest);
  const program = ts.createProgram(files.map((f) => path.resolve(f)), OPTIONS, host);
  let diags = ts.getPreEmitDiagnostics(program);
  const isError = (d) => d.category === ts.DiagnosticCategory.Error;
  if (!diags.some(isError)) diags = diags.concat(program.emit().diagnostics);
  if (files.length === 0) {
    process.stderr.write('isobox-tsc: no .ts file to compile\n');
    process.exitCode = 1;
  }
  if (diags.length) process.stderr.write(ts.formatDiagnostics(diags, fmtHost()));
  if (diags.some(isError)) process.exitCode = 1;
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
chmod 0755 /usr/local/bin/isobox-tsc /usr/local/bin/isobox-ts-run

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
cd / && rm -rf "$t" /tmp/out /box/* /box/.[!.]* 2>/dev/null || true
