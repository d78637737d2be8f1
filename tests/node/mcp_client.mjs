// mcp_client.mjs - connect to isobox's MCP endpoint with the official
// TypeScript SDK (@modelcontextprotocol/sdk) over the Streamable HTTP
// transport, list the tools and call them. Prints one JSON object;
// test_mcp.py asserts on it.
//
//   node tests/node/mcp_client.mjs http://127.0.0.1:8090/mcp [API_KEY]
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const url = new URL(process.argv[2] || 'http://127.0.0.1:8090/mcp');
const apiKey = process.argv[3] || process.env.ISOBOX_API_KEY || '';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A busy server answers 429 (rate limit, every sandbox busy): not the
// behaviour under test, so wait and try again for a while.
async function retry(fn) {
  const deadline = Date.now() + 300000;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      const busy = (e && e.code === 429) || /\b429\b/.test(String(e && e.message));
      if (!busy || Date.now() > deadline) throw e;
      await sleep(1500);
    }
  }
}

const out = {};
let client;
let transport;
await retry(async () => {
  // A failed connect leaves the transport started: start over each time.
  client = new Client({ name: 'isobox-e2e', version: '1.0.0' });
  transport = new StreamableHTTPClientTransport(url, {
    requestInit: apiKey ? { headers: { 'X-API-Key': apiKey } } : {},
  });
  await client.connect(transport);
});
out.serverVersion = client.getServerVersion();
out.capabilities = client.getServerCapabilities();
out.instructions = client.getInstructions();
out.protocolVersion = transport.protocolVersion ?? null;
out.tools = (await retry(() => client.listTools())).tools;
out.hello = await retry(() => client.callTool({
  name: 'execute_code',
  arguments: { language: 'python', code: 'import sys\nprint("hello from mcp", sys.argv[1:], sys.stdin.read())', args: ['a'], stdin: 'in' },
}));
out.timeout = await retry(() => client.callTool({
  name: 'execute_code',
  arguments: { language: 'python', code: 'while True: pass', limits: { wallTimeMs: 1000 } },
}));
out.badLanguage = await retry(() => client.callTool({
  name: 'execute_code',
  arguments: { language: 'intercal', code: 'x' },
}));
out.runtimes = await retry(() => client.callTool({ name: 'list_runtimes', arguments: {} }));
try {
  await retry(() => client.callTool({ name: 'no_such_tool', arguments: {} }));
  out.unknownTool = null;
} catch (e) {
  out.unknownTool = { code: e.code ?? null, message: String(e.message) };
}

// Work in steps: a session, a file round trip, a step that reads and
// writes files, memory, and closing the session.
const call = (name, args) => retry(() => client.callTool({ name, arguments: args }));
const created = await call('session_create', { runtime: 'python', ttlSec: 300 });
out.sessionCreate = created;
const { sessionId, token } = created.structuredContent;
try {
  out.fileWrite = await call('file_write', { sessionId, token, path: 'src/data.txt', content: 'written by the sdk\n' });
  out.binWrite = await call('file_write', { sessionId, token, path: 'bin.dat', content: Buffer.from([0, 1, 254, 255]).toString('base64'), encoding: 'base64' });
  out.sessionExec = await call('session_exec', {
    sessionId, token,
    code: 'data = open("src/data.txt").read()\nprint(data.upper(), end="")\nopen("result.txt", "w").write(str(len(data)))\nprint(list(open("bin.dat", "rb").read()))',
  });
  out.fileRead = await call('file_read', { sessionId, token, path: 'result.txt' });
  out.binRead = await call('file_read', { sessionId, token, path: 'bin.dat' });
  out.filesList = await call('session_files_list', { sessionId, token });
  out.sessionList = await call('session_list', {});
  out.wrongToken = await call('file_read', { sessionId, token: 'tok_' + '0'.repeat(64), path: 'result.txt' });
} finally {
  out.sessionClose = await call('session_close', { sessionId, token });
}
out.afterClose = await call('session_exec', { sessionId, token, code: 'print(1)' });
const ns = `mcp-sdk-${process.pid}`;
out.memoryPut = await call('memory_put', { namespace: ns, key: 'answer', value: '42', ttlSec: 600 });
out.memoryGet = await call('memory_get', { namespace: ns, key: 'answer' });
out.memoryCasStale = await call('memory_put', { namespace: ns, key: 'answer', value: '43', ifMatch: '0'.repeat(64) });
out.memoryCas = await call('memory_put', { namespace: ns, key: 'answer', value: '43', ifMatch: out.memoryGet.structuredContent.etag });
out.memoryList = await call('memory_list', { namespace: ns });
out.memoryDelete = await call('memory_delete', { namespace: ns, key: 'answer' });
out.memoryGone = await call('memory_get', { namespace: ns, key: 'answer' });
// A kernel session: a plot comes back as MCP image content beside the
// text (the SDK checks every content item against its schema), a file
// written with file_write is read by a cell, a file the cell wrote is read
// back with file_read.
out.kernel = {};
const kc = await call('session_create', { runtime: 'python', type: 'kernel', ttlSec: 300 });
out.kernel.create = { isError: kc.isError, text: kc.content[0].text, type: kc.structuredContent?.type };
if (!kc.isError) {
  const kid = { sessionId: kc.structuredContent.sessionId, token: kc.structuredContent.token };
  try {
    out.kernel.write = await call('file_write', { ...kid, path: 'in/points.txt', content: '1 3 2\n' });
    const plot = await call('session_exec', {
      ...kid,
      code: 'import os\nimport matplotlib.pyplot as plt\nys = [int(v) for v in open("in/points.txt").read().split()]\n'
        + 'plt.plot(ys)\nos.makedirs("out", exist_ok=True)\nopen("out/sum.txt", "w").write(str(sum(ys)))\n'
        + 'sum(ys) * 7',
      limits: { wallTimeMs: 20000 }, // a cold interpreter imports matplotlib here
    });
    out.kernel.plot = {
      isError: plot.isError,
      types: plot.content.map((c) => c.type),
      text: plot.content[0].text,
      images: plot.content.filter((c) => c.type === 'image').map((c) => ({
        mimeType: c.mimeType,
        magic: Array.from(Buffer.from(c.data, 'base64').subarray(0, 8)),
        bytes: Buffer.from(c.data, 'base64').length,
      })),
      kernel: { ...plot.structuredContent?.kernel, results: undefined },
    };
    const again = await call('session_exec', { ...kid, code: 'ys' });
    out.kernel.again = { text: again.content[0].text, types: again.content.map((c) => c.type) };
    out.kernel.read = await call('file_read', { ...kid, path: 'out/sum.txt' });
  } finally {
    out.kernel.close = await call('session_close', kid);
  }
}

try {
  await call('session_exec', { sessionId, code: 'print(1)' });
  out.missingToken = null;
} catch (e) {
  out.missingToken = { code: e.code ?? null, message: String(e.message) };
}

await client.close();
process.stdout.write(JSON.stringify(out) + '\n');
