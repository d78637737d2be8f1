// prestart/node.js - the prestart bootstrap of node (registry.h "prestart").
// A warm sandbox starts `node --require THIS THIS [SCRIPT]`: node boots,
// loads this preload, which waits on fd 3 for the run argv after the
// command (the entry file, then the job's arguments), and returns; node
// then runs the entry (or SCRIPT with the entry as its first argument, for
// a command that is a node script such as coffee) as its main module
// exactly as `node FILE ARGS` would (same stack frames, require.main,
// process.argv, process.execArgv), only without the start. Written for
// node 18's start (lib/internal/main/run_main_module.js).
// Bound read-only at /.isobox/prestart beside the guest; see
// tests/e2e/test_warm_parity.py for what the program can and cannot see.
'use strict';
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
    const fs = require('fs');
    const path = require('path');
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
    const a = process.argv.slice(2);
    a.push(...Buffer.concat(parts).toString().split('\0'));
    a.pop();
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
    Module._findPath = function (request, paths, isMain) {
      if (request !== self || !isMain) {
        return find.apply(this, arguments);
      }
      if (paths) {
        Module._findPath = find;
      }
      return find.call(this, a[0], paths, isMain);
    };
  }
  drop(process.execArgv);
}
