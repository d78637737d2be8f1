// js_client_state.mjs - exercise the session, file, kernel, volume and memory methods of
// clients/js/isobox.mjs against a live server. Prints one JSON report;
// asserted by tests/e2e/test_clients_state.py.
//
//   node tests/node/js_client_state.mjs http://127.0.0.1:8090 WORKDIR
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Cell, Isobox, IsoboxError, Session, Volume } from '../../clients/js/isobox.mjs';

const base = process.argv[2] || 'http://127.0.0.1:8090';
const work = process.argv[3] || fs.mkdtempSync('/tmp/isobox-js-');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const out = {};
const box = new Isobox({ baseUrl: base, timeoutMs: 120000 });

// A busy server answers 429 (capacity, too many sessions): not under test.
async function retry(fn) {
  const deadline = Date.now() + 300000;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (!(e instanceof IsoboxError) || e.status !== 429 || Date.now() > deadline) throw e;
      await sleep(1000 * (e.retryAfter || 1));
    }
  }
}

async function errOf(fn) {
  try {
    await fn();
    return { threw: false };
  } catch (e) {
    return { threw: true, isIsoboxError: e instanceof IsoboxError, code: e.code, status: e.status, requestId: e.requestId };
  }
}

const sha = (b) => crypto.createHash('sha256').update(b).digest('hex');

// ---- sessions
const s = await retry(() => box.createSession({ runtime: 'python', ttlSec: 300 }));
out.created = { id: s.id, tokenPrefix: s.token.slice(0, 4), isSession: s instanceof Session, info: s.info };
out.hasAsyncDispose = typeof Symbol.asyncDispose === 'symbol' && typeof s[Symbol.asyncDispose] === 'function';
try {
  out.get = await s.get();
  out.listed = (await box.listSessions()).some((x) => x.id === s.id);
  out.write = await s.write('notes/hello.txt', 'héllo from js\n');
  const big = crypto.randomBytes(3 * 1024 * 1024 + 17);
  const src = path.join(work, 'big.bin');
  fs.writeFileSync(src, big);
  out.upload = await s.uploadFile('data/big.bin', src);
  out.bigSha = sha(big);
  out.exec = await retry(() => s.exec({
    code: 'import hashlib, os\nprint(open("notes/hello.txt").read(), end="")\n'
      + 'print(hashlib.sha256(open("data/big.bin","rb").read()).hexdigest())\n'
      + 'open("made.txt", "w").write("made in step")',
  }));
  out.readText = await s.readText('made.txt');
  const dst = path.join(work, 'back.bin');
  out.downloadBytes = await s.downloadFile('data/big.bin', dst);
  out.downloadSha = sha(fs.readFileSync(dst));
  out.noPartLeft = !fs.readdirSync(work).some((n) => n.includes('.part'));
  out.readBytes = (await s.read('notes/hello.txt')).length;
  out.fsList = await s.list();
  out.listSub = await s.list('notes');
  const events = [];
  for await (const ev of s.stream({ code: 'import time\nprint("a", flush=True)\ntime.sleep(1.5)\nprint("b", flush=True)' })) {
    events.push({ event: ev.event, at: Date.now() });
  }
  out.streamKinds = events.map((e) => e.event);
  out.streamSpanMs = events[events.length - 1].at - events[0].at;
  // Interrupt a running step.
  const running = retry(() => s.exec({ code: 'import time\ntry:\n    time.sleep(30)\nexcept KeyboardInterrupt:\n    print("interrupted")\n', limits: { wallTimeMs: 20000 } }));
  await sleep(2500);
  out.interrupt = await s.interrupt();
  out.interrupted = await running;
  out.idleInterrupt = await errOf(() => s.interrupt());
  out.extend = await s.extend(600);
  const f = await retry(() => s.fork());
  out.fork = { id: f.id, differs: f.id !== s.id, text: await f.readText('made.txt') };
  await f.close();
  out.forkGone = await errOf(() => f.get());
  await s.remove('notes');
  out.afterRemove = (await s.list()).entries.map((e) => e.name).sort();
  out.missingFile = await errOf(() => s.read('nope.txt'));
  out.badToken = await errOf(() => box.session(s.id, 'tok_' + '0'.repeat(64)).get());
} finally {
  await s.close();
}
out.closedTwice = await errOf(() => s.close());
out.gone = await errOf(() => s.get());

// ---- memory
const ns = `jsclient-${process.pid}-${Date.now()}`;
out.put = await box.memoryPut(ns, 'dir/key', 'v1', { ttlSec: 60 });
const got = await box.memoryGet(ns, 'dir/key');
out.got = { text: got.text(), etag: got.etag, contentType: got.contentType, expiresAt: got.expiresAt };
out.putBinary = await box.memoryPut(ns, 'bin', new Uint8Array([0, 255, 1]));
out.gotBinary = Array.from((await box.memoryGet(ns, 'bin')).value);
out.casFail = await errOf(() => box.memoryPut(ns, 'dir/key', 'v2', { ifMatch: '0'.repeat(64) }));
out.casOk = await box.memoryPut(ns, 'dir/key', 'v2', { ifMatch: got.etag });
out.createOnly = await errOf(() => box.memoryPut(ns, 'dir/key', 'v3', { ifNoneMatch: '*' }));
// memoryUpdate from 8 concurrent writers: no increment lost.
await Promise.all(Array.from({ length: 8 }, () => box.memoryUpdate(ns, 'counter', (old) => String(Number(old ?? 0) + 1))));
out.counter = (await box.memoryGet(ns, 'counter')).text();
out.memList = await box.memoryList(ns, { limit: 2 });
out.allKeys = [];
for await (const it of box.memoryKeys(ns)) out.allKeys.push(it.key);
out.usage = await box.memoryUsage();
await box.memoryDelete(ns, 'dir/key');
out.missing = await box.memoryGet(ns, 'dir/key', { missingOk: true });
out.missingErr = await errOf(() => box.memoryGet(ns, 'dir/key'));
for (const k of ['bin', 'counter']) await box.memoryDelete(ns, k);

// ---- kernels
out.kernel = {};
let k = null;
try {
  k = await retry(() => box.createKernel({ runtime: 'python', ttlSec: 300 }));
} catch (e) {
  if (!(e instanceof IsoboxError) || !['kernel_disabled', 'kernel_unavailable'].includes(e.code)) throw e;
  out.kernel.skipped = e.code;
}
if (k) {
  const K = out.kernel;
  try {
    K.type = k.info.type;
    let c = await retry(() => k.run({
      code: 'import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nn = 6\nprint("hi")\nn * 7',
      limits: { wallTimeMs: 20000 }, // a cold interpreter imports matplotlib here
    }));
    K.isCell = c instanceof Cell;
    K.text = c.text;
    K.stdout = c.stdout;
    K.executionCount = c.executionCount;
    K.imageMimes = c.images.map((i) => i.mime);
    K.pngMagic = c.images.length > 0 && c.images[0].bytes[0] === 0x89 && c.images[0].bytes[1] === 0x50;
    K.kept = (await retry(() => k.run({ code: 'n + 1' }))).text;
    c = await retry(() => k.run('1 / 0'));
    K.error = c.error && c.error.name;
    K.exitCode = c.exitCode;
    const sleeping = retry(() => k.run({ code: 'import time\ntime.sleep(60)', limits: { wallTimeMs: 20000 } }));
    for (let i = 0; i < 60; i++) {
      await sleep(500);
      const r = await errOf(async () => { K.interrupt = await k.interrupt(); });
      if (!r.threw) break;
      if (r.code !== 'session_idle') throw new Error(`interrupt: ${r.code}`);
    }
    K.interrupted = (await sleeping).interrupted;
    K.keptAfterInterrupt = (await retry(() => k.run('n'))).text;
    K.restart = await k.restart();
    c = await retry(() => k.run('n'));
    K.afterRestart = { error: c.error && c.error.name, executionCount: c.executionCount };
  } finally {
    await k.close();
  }
  const fsess = await retry(() => box.createSession({ runtime: 'python', ttlSec: 120 }));
  try {
    K.notAKernel = await errOf(() => fsess.restart());
  } finally {
    await fsess.close();
  }
}

// ---- volumes
const vname = `jsclient-${process.pid}-${Date.now()}`;
const made = [];
const V = (out.volume = {});
try {
  const vol = await box.createVolume(vname, { sizeBytes: 32 << 20 });
  made.push(vol);
  V.isVolume = vol instanceof Volume;
  V.id = vol.id;
  V.name = vol.name;
  V.sizeBytes = vol.info.sizeBytes;
  const big = crypto.randomBytes(2 * 1024 * 1024 + 5);
  V.bigSha = sha(big);
  fs.writeFileSync(path.join(work, 'vbig.bin'), big);
  V.upload = await vol.uploadFile('raw/big.bin', path.join(work, 'vbig.bin'));
  await vol.downloadFile('raw/big.bin', path.join(work, 'vback.bin'));
  V.downloadSha = sha(fs.readFileSync(path.join(work, 'vback.bin')));
  V.write = await vol.write('notes.txt', 'héllo');
  V.readText = await vol.readText('notes.txt');
  V.listRaw = (await vol.list('raw')).entries.map((e) => e.name);
  const copy = await vol.copy(`${vname}-copy`);
  made.push(copy);
  V.copy = copy.info;
  V.copyText = await copy.readText('notes.txt');
  const copy2 = await box.copyVolume(vol.id, `${vname}-copy2`, { sizeBytes: 16 << 20 });
  made.push(copy2);
  V.copy2Size = copy2.info.sizeBytes;
  await copy.write('notes.txt', 'changed');
  await copy.remove('raw');
  V.originalKept = await vol.readText('notes.txt');
  V.copyAfterRemove = (await copy.list()).entries.map((e) => e.name).sort();
  V.listed = (await box.listVolumes()).some((x) => x instanceof Volume && x.id === vol.id);
  V.got = (await box.getVolume(vol.id)).name;
  V.refreshed = (await vol.get()).id;
  const held = await retry(() => box.createSession({
    runtime: 'python', ttlSec: 120, volumes: [{ id: vol.id, mountPath: '/data', mode: 'rw' }],
  }));
  try {
    V.attachedRead = (await retry(() => held.exec({ code: 'print(open("/data/notes.txt").read())' }))).run.stdout;
    V.locked = await errOf(() => vol.write('x.txt', 'no'));
    V.busy = await errOf(() => vol.delete());
  } finally {
    await held.close();
  }
  V.nameTaken = await errOf(() => box.createVolume(vname.toUpperCase()));
  await copy.delete();
  await box.deleteVolume(copy2);
  V.gone = await errOf(() => box.getVolume(copy.id));
} finally {
  for (const v of made) await v.delete().catch(() => {});
}
V.leftOver = (await box.listVolumes()).filter((x) => x.name.startsWith(vname)).map((x) => x.name);

process.stdout.write(JSON.stringify(out) + '\n');
