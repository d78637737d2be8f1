// js_client.mjs - exercise clients/js/isobox.mjs against a live server and
// against a small local fake (for what a healthy server does not do on
// demand: 401, 429, an error event). Prints one JSON report; asserted by
// tests/e2e/test_clients.py.
//
//   node tests/node/js_client.mjs http://127.0.0.1:8090
import http from 'node:http';
import { Isobox, IsoboxError } from '../../clients/js/isobox.mjs';

const base = process.argv[2] || 'http://127.0.0.1:8090';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const out = {};

function errInfo(e) {
  return {
    isIsoboxError: e instanceof IsoboxError,
    name: e && e.name,
    code: e && e.code,
    status: e && e.status,
    requestId: e && e.requestId,
    retryAfter: e && e.retryAfter,
    message: e && e.message,
  };
}

// A 429 is rethrown so that retry() waits and tries again.
async function expectError(fn) {
  try {
    await fn();
    return { threw: false };
  } catch (e) {
    if (e instanceof IsoboxError && e.status === 429 && !fn.wantsRateLimit) throw e;
    return { threw: true, ...errInfo(e) };
  }
}

// A live server may answer 429 when busy; that is not under test here.
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

const box = new Isobox({ baseUrl: base });
out.runtimes = (await box.runtimes()).map((r) => r.language);
out.hello = await retry(() => box.execute({ language: 'python', code: 'print(6 * 7)' }));
out.files = await retry(() => box.execute({
  language: 'python',
  files: [{ name: 'main.py', content: 'import lib; print(lib.X)' }, { name: 'lib.py', content: 'X = "from lib"' }],
  stdin: '',
  args: ['a'],
}));

// Streaming: events must arrive as the program prints, not at the end.
out.stream = await retry(async () => {
  const t0 = Date.now();
  const events = [];
  for await (const ev of box.stream({
    language: 'python',
    code: 'import sys, time\nprint("first", flush=True)\ntime.sleep(3)\nprint("err", file=sys.stderr, flush=True)\nprint("last", flush=True)',
  })) {
    events.push({ event: ev.event, at: Date.now() - t0, data: ev.event === 'done' ? { exitCode: ev.data.run.exitCode, stdout: ev.data.run.stdout } : ev.data });
  }
  return events;
});

// Leaving the loop early returns at once (the connection is dropped).
out.earlyBreak = await retry(async () => {
  const t0 = Date.now();
  let first = null;
  for await (const ev of box.stream({ language: 'python', code: 'import time\nprint("go", flush=True)\ntime.sleep(20)' })) {
    first = ev;
    break;
  }
  return { first, ms: Date.now() - t0 };
});

out.unknownLanguage = await retry(() => expectError(() => box.execute({ language: 'intercal', code: 'x' })));
out.streamUnknownLanguage = await retry(() => expectError(async () => {
  for await (const ev of box.stream({ language: 'intercal', code: 'x' })) void ev;
}));
out.network = await expectError(() => new Isobox({ baseUrl: 'http://127.0.0.1:9' }).runtimes());
out.timeout = await retry(() => expectError(() => box.execute({ language: 'python', code: 'import time; time.sleep(5)' }, { timeoutMs: 300 })));
out.aborted = await retry(() => {
  const ctl = new AbortController();
  setTimeout(() => ctl.abort(), 300);
  return expectError(async () => {
    for await (const ev of box.stream({ language: 'python', code: 'import time; time.sleep(5)' }, { signal: ctl.signal })) void ev;
  });
});

// A fake server: records the key and answers what we ask it to.
const seen = [];
const fake = http.createServer((req, res) => {
  seen.push({ url: req.url, key: req.headers['x-api-key'] ?? null, accept: req.headers.accept });
  req.resume();
  if (req.url.startsWith('/runtimes')) {
    res.writeHead(401, { 'Content-Type': 'application/json', 'X-Request-Id': 'r401' });
    res.end(JSON.stringify({ error: 'unauthorized', message: 'a valid API key is required', requestId: 'r401' }));
  } else if (req.url.startsWith('/execute?stream=1')) {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'X-Request-Id': 'rsse' });
    res.write('event: stdout\ndata: {"chunk":"partial\\n","stage":"run"}\n\n');
    res.end('event: error\ndata: {"error":"sandbox_failed","message":"the engine lost the sandbox","requestId":"rsse"}\n\n');
  } else {
    res.writeHead(429, { 'Content-Type': 'application/json', 'Retry-After': '7', 'X-Request-Id': 'r429' });
    res.end(JSON.stringify({ error: 'rate_limited', message: 'too many requests; retry in 7 s', requestId: 'r429' }));
  }
});
await new Promise((r) => fake.listen(0, '127.0.0.1', r));
const fakeBox = new Isobox({ baseUrl: `http://127.0.0.1:${fake.address().port}`, apiKey: 'k-123' });
out.fake401 = await expectError(() => fakeBox.runtimes());
const want429 = () => fakeBox.execute({ language: 'python', code: 'x' });
want429.wantsRateLimit = true;
out.fake429 = await expectError(want429);
out.fakeStreamEvents = [];
out.fakeStreamError = await expectError(async () => {
  for await (const ev of fakeBox.stream({ language: 'python', code: 'x' })) out.fakeStreamEvents.push(ev);
});
out.fakeSeen = seen;
fake.close();

process.stdout.write(JSON.stringify(out) + '\n');
