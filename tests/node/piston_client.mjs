// piston_client.mjs - drive isobox's Piston-compatible API with the real
// `piston-client` package from npm, unchanged except for the server URL.
// Prints one JSON object with what the client returned; test_piston.py
// asserts on it.
//
//   node tests/node/piston_client.mjs http://127.0.0.1:8090
import piston from 'piston-client';

const server = process.argv[2] || process.env.ISOBOX_URL || 'http://127.0.0.1:8090';
const client = piston({ server });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A busy server answers 429 (rate limit or all sandboxes busy): that is
// not the behaviour under test, so wait and try again for a while.
async function retry(fn) {
  const deadline = Date.now() + 300000;
  for (;;) {
    const r = await fn();
    const busy = r && (r.error === 'rate_limited' || r.error === 'capacity');
    if (!busy || Date.now() > deadline) return r;
    await sleep(1500);
  }
}

const out = {};
out.runtimes = await client.runtimes();
out.hello = await retry(() => client.execute('python', 'print("hello from piston-client")'));
out.stdinArgs = await retry(() => client.execute('python',
  'import sys\nprint(sys.stdin.read().upper(), sys.argv[1:])',
  { stdin: 'abc', args: ['x', 'y'] }));
out.js = await retry(() => client.execute({
  language: 'javascript',
  files: [{ name: 'main.js', content: 'console.log(6 * 7); process.exit(2)' }],
  args: [],
}));
out.timeout = await retry(() => client.execute('python', 'while True: pass',
  { runTimeout: 1000, args: [] }));
out.unknown = await retry(() => client.execute({ language: 'intercal', version: '*', files: [{ content: 'x' }] }));
process.stdout.write(JSON.stringify(out) + '\n');
