// prestart/node.js - the prestart bootstrap of node (registry.h "prestart").
// A warm sandbox starts `node --require THIS THIS [SCRIPT]`: node boots,
// loads this preload, which waits on fd 3 for the run argv after the
// command (the entry file, then the job's arguments), and returns; node
// then runs the entry (or SCRIPT with the entry as its first argument, for
// a command that is a node script such as coffee) as its main module
// exactly as `node FILE ARGS` would (same stack frames, require.main,
// process.argv, process.execArgv), only without the start. Written for
// node 18's start (lib/internal/main/run_main_module.js).
// When SCRIPT is CoffeeScript's bin/coffee it also loads and warms the
// compiler before waiting (coffeeWarm), so that a job pays only for
// compiling and running its own program.
// Bound read-only at /.isobox/prestart beside the guest; see
// tests/e2e/test_warm_parity.py for what the program can and cannot see.
'use strict';

// What coffeeWarm compiles: most of the language once (V8 compiles the
// compiler's functions on their first call), and a literate file.
const COFFEE_WARM = [['.warm.coffee', String.raw`
# A comment
###
A block comment
###
import fs from 'fs'
export default class Animal extends Object
  @count: 0
  constructor: (@name, {legs = 4, tags...} = {}, rest...) ->
    super()
    Animal.count++
    @legs = legs ? 0
  speak: (sound = 'hi') => "#{@name} says #{sound * 2} #{"in #{1 + 1}"}"
  get: -> @name
  gen: -> yield i for i in [1..3]
  run: -> await Promise.resolve(@legs)
f = (a, b = 2, c...) -> [a, b, c..., a?.b?[0], a?(b), not a, a ** 2, a // 3, a %% 4]
o = {a: 1, 'b': 2, [f]: 3, c: {d: [1, 2, 3]}, f, ...o}
{a, c: {d: [first, others...]}} = o
[x, y] = [y, x]
s = '''
  single #{x}
  '''
s2 = """
  double #{x}
  """
r = /^[a-z]+\d*$/gi
h = ///
  ^ \s* (\w+) # word
  #{x}
///
t = f"tagged #{x}"
n = [0x1f, 1e3, 0b101, 0o17, 1_000, -1.5, Infinity]
list = (x * 2 for x in [1...10] by 2 when x > 2)
keys = (k for own k, v of o)
x++ while x < 10
x-- until x is 0
loop
  break
for i in [10..0] by -1 then continue
for v, i in list
  console.log v, i
switch x
  when 1, 2 then 'low'
  when 3 then 'mid'
  else 'high'
try
  throw new Error 'x'
catch {message}
  message
finally
  null
unless x then y else x
z = if x? and y isnt 0 or not x then 1 else 2
a ?= b
a ||= c
a &&= d
do (x) -> x
fs.readFile 'x', (err, data) ->
  return if err
  console.log data.toString().split('\n')[1..]
class B extends Animal then constructor: -> super 'b'
Animal::extra = -> this
chain = a.b().c?.d[e..f]
1 < x < 10
'a' in ['a', 'b'] and 'k' of o
x = switch
  when a then b
  else c
new Animal('cat').speak()
`], ['.warm.litcoffee', `A literate program:

    square = (x) -> x * x
    console.log square 3
`]];

{
  const self = __filename;
  const drop = (a) => {
    for (let i = 0; i < a.length; i++) {
      if ((a[i] === '--require' || a[i] === '-r') && a[i + 1] === self) {
        a.splice(i, 2);
        return;
      }
      if (a[i] === '--require=' + self || a[i] === '-r=' + self) {
        a.splice(i, 1);
        return;
      }
    }
  };
  delete require.cache[self];
  // A worker thread inherits the preload: it has nothing to do there.
  if (process.argv[1] === self) {
    // node's lookup of THIS for --require: a cold start has none.
    const lookups = require('module')._pathCache;
    for (const k of Object.keys(lookups)) {
      if (k.startsWith(self + '\0')) {
        delete lookups[k];
      }
    }
    const path = require('path');
    // typescript's run-stage bootstrap (runPrestart): SCRIPT is
    // isobox-ts-run, whose argv this takes, running what it would exec.
    const tsRun = process.argv.length === 3 && path.basename(process.argv[2]) === 'isobox-ts-run';
    const warm = process.argv.length === 3 && !tsRun ? coffeeWarm(process.argv[2]) : null;
    const fs = require('fs');
    const parts = [];
    const buf = Buffer.allocUnsafe(65536);
    for (;;) {
      let n;
      try {
        n = fs.readSync(3, buf, 0, buf.length, null);
      } catch (e) {
        if (e.code === 'EAGAIN' || e.code === 'EINTR') continue;
        throw e;
      }
      if (n === 0) break;
      parts.push(Buffer.from(buf.subarray(0, n)));
    }
    fs.closeSync(3);
    const a = tsRun ? [] : process.argv.slice(2);
    a.push(...Buffer.concat(parts).toString().split('\0'));
    a.pop();
    if (tsRun) {
      a[0] = tsOut(a[0]);
    }
    // As node's own start does for argv[1] (pre_execution.js).
    a[0] = path.resolve(a[0]);
    process.argv.splice(1, process.argv.length - 1, ...a);
    // node has already taken THIS as the main entry and will load it when
    // this returns (Module.runMain, run_main_module.js): its lookups of
    // THIS find the entry instead. _findPath is not on the stack while
    // the program runs; it is put back at the CommonJS loader's lookup
    // (the second of two; an ES module entry makes only the first).
    const Module = require('module');
    const find = Module._findPath;
    // With coffee the next lookup is bin/coffee's require of
    // LIB/command (its other requires are builtins, which take none):
    // the warmed compiler goes back in as coffee's own exactly then. Any
    // other lookup (a node_modules/coffeescript of the job's, which
    // coffee prefers) leaves it out: coffee starts as it would cold.
    const coffeeFind = function (request, paths, isMain) {
      Module._findPath = find;
      const found = find.apply(this, arguments);
      if (found === warm.file) {
        coffeeRestore(warm);
      }
      return found;
    };
    Module._findPath = function (request, paths, isMain) {
      if (request !== self || !isMain) {
        return find.apply(this, arguments);
      }
      if (paths) {
        Module._findPath = warm ? coffeeFind : find;
      }
      return find.call(this, a[0], paths, isMain);
    };
  }
  drop(process.execArgv);
}

// The JavaScript that isobox-ts-run (images/typescript/setup.sh) runs for
// ENTRY: "exec node /tmp/out/E", E being ENTRY with its extension mapped as
// tsc emits it (its shell case patterns, in their order).
function tsOut(entry) {
  let e;
  if (entry.endsWith('.mts')) {
    e = entry.slice(0, -4) + '.mjs';
  } else if (entry.endsWith('.cts')) {
    e = entry.slice(0, -4) + '.cjs';
  } else if (entry.endsWith('.tsx')) {
    e = entry.slice(0, -4) + '.js';
  } else {
    e = (entry.endsWith('.ts') ? entry.slice(0, -3) : entry) + '.js';
  }
  return '/tmp/out/' + e;
}

// Load coffee's compiler as coffee does (bin/coffee requires LIB/command,
// which requires the rest) and compile COFFEE_WARM with it as coffee
// compiles a job's files; then take back what a program could see of
// that: the modules leave require.cache (kept in load order), and so do
// their Module._pathCache lookups, the require.extensions entries index.js
// adds and nodes.js's Error.stackTraceLimit; the compiled files' source
// maps leave SourceMap.sourceMaps. register.js is left to coffee: it
// replaces Module.prototype.load, whose frame is under the main module,
// and sets Error.prepareStackTrace. Each module's require.main is
// process.mainModule when it loads, no module yet while this waits: it is
// a stand-in (`main`) for the main module to come, which only index.js
// uses (CoffeeScript.run compiles the program into require.main) and
// which never reaches the program (its methods run on the main module
// itself). Returns what coffeeRestore puts back, or null (not coffee, or
// something unexpected: nothing is kept, coffee starts as it would cold).
function coffeeWarm(script) {
  const fs = require('fs');
  const path = require('path');
  const Module = require('module');
  let lib;
  try {
    const real = fs.realpathSync(script);
    lib = path.join(path.dirname(real), '../lib/coffeescript');
    if (path.basename(real) !== 'coffee' || !fs.existsSync(lib + '/command.js')) {
      return null;
    }
  } catch (e) {
    return null;
  }
  const warm = {file: lib + '/command.js', main: null};
  const to = () => {
    if (!warm.main) {
      throw new Error('coffee prestart: no main module yet');
    }
    return warm.main;
  };
  const main = new Proxy({}, {
    get: (t, k) => {
      const v = Reflect.get(to(), k);
      return typeof v === 'function' ? v.bind(to()) : v;
    },
    set: (t, k, v) => Reflect.set(to(), k, v),
    has: (t, k) => Reflect.has(to(), k),
    deleteProperty: (t, k) => Reflect.deleteProperty(to(), k),
  });
  const tables = [Module._cache, Module._pathCache, Module._extensions];
  const before = tables.map((t) => new Set(Object.keys(t)));
  const limit = Error.stackTraceLimit;
  const prepare = Error.prepareStackTrace;
  const events = () => process.eventNames().map((e) => [e, process.listenerCount(e)]).join();
  const listening = events();
  // A property as it is now, or absent, back as it was.
  const keep = (o, k) => {
    const d = Object.getOwnPropertyDescriptor(o, k);
    return () => (d ? Object.defineProperty(o, k, d) : delete o[k]);
  };
  const mainModule = keep(process, 'mainModule');
  const prepareStackTrace = keep(Error, 'prepareStackTrace');
  let ok = true;
  try {
    process.mainModule = main;
    require(lib + '/command');
    const loaded = (name) => Module._cache[path.join(lib, name)].exports;
    const CoffeeScript = loaded('index.js');
    const SourceMap = loaded('sourcemap.js');
    for (const [name, code] of COFFEE_WARM) {
      // The options of coffee's compileOptions and CoffeeScript.run.
      const file = path.join(__dirname, name);
      CoffeeScript.compile(code, {
        filename: file, literate: name.endsWith('.litcoffee'), bare: undefined,
        header: false, transpile: false, sourceMap: undefined, inlineMap: true,
        ast: undefined, sourceRoot: '', sourceFiles: [name],
        generatedFile: name.replace(/\.[a-z]+$/, '.js'),
      });
      delete SourceMap.sourceMaps[file];
    }
    ok = Object.keys(SourceMap.sourceMaps).length === 0;
    // And coffee's option parser, as coffee parses its arguments.
    const {OptionParser} = loaded('optparse.js');
    new OptionParser([['-b', '--bare', 'b'], ['-r', '--require [MODULE*]', 'r']], '')
      .parse(['-b', 'main.coffee', 'x']);
  } catch (e) {
    ok = false;
  }
  mainModule();
  ok = ok && Error.prepareStackTrace === prepare && events() === listening;
  prepareStackTrace();
  // The lookup of lib/command above is not coffee's (coffee's own makes
  // its own entry).
  const self = lib + '/command\0';
  [warm.modules, warm.lookups, warm.extensions] = tables.map((t, i) => {
    const out = [];
    for (const k of Object.keys(t)) {
      if (!before[i].has(k)) {
        if (!k.startsWith(self)) {
          out.push([k, t[k]]);
        }
        delete t[k];
      }
    }
    return out;
  });
  warm.stackTraceLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = limit;
  ok = ok && warm.modules.length > 0 && warm.modules[0][0] === warm.file;
  // Collect it all now, or the job's first allocations finish an
  // incremental marking this started (tens of ms). --expose-gc is on for
  // as long as it takes to make one context: later ones have no gc.
  const v8 = require('v8');
  v8.setFlagsFromString('--expose-gc');
  const gc = require('vm').runInNewContext('gc');
  v8.setFlagsFromString('--no-expose-gc');
  gc();
  return ok ? warm : null;
}

// Put back what coffeeWarm took as coffee's require of LIB/command would
// have made it: the modules after the main module in require.cache, the
// command module a child of the main module (Module._load adds it to
// main.children when it finds it cached).
function coffeeRestore(warm) {
  const Module = require('module');
  for (const [k, v] of warm.lookups) {
    if (!(k in Module._pathCache)) {
      Module._pathCache[k] = v;
    }
  }
  for (const [k, v] of warm.modules) {
    Module._cache[k] = v;
  }
  for (const [k, v] of warm.extensions) {
    Module._extensions[k] = v;
  }
  warm.main = process.mainModule;
  warm.modules[0][1].parent = warm.main;
  Error.stackTraceLimit = warm.stackTraceLimit;
}
