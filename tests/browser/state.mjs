// state.mjs - drive the playground's Files, Memory and Notebook views in a
// real browser (Debian's chromium through playwright-core) against a live
// server, asserting what a person sees. Prints one JSON report on stdout and
// exits non-zero on the first failed check. Run by tests/browser/test_state.py.
//
//   node tests/browser/state.mjs URL SCREENSHOT_DIR [CHROMIUM]
import { chromium } from 'playwright-core';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

const base = (process.argv[2] || 'http://127.0.0.1:8090').replace(/\/+$/, '');
const url = base + '/';
const shots = process.argv[3] || 'build';
const executablePath = process.argv[4] || process.env.CHROMIUM || '/usr/bin/chromium';
mkdirSync(shots, { recursive: true });

const report = { checks: [], screenshots: [], kernels: null };
function check(name, ok, detail) {
  report.checks.push({ name, ok: !!ok, detail: detail ?? null });
  if (!ok) throw new Error(`check failed: ${name}${detail !== undefined ? `: ${JSON.stringify(detail)}` : ''}`);
}
async function shot(page, name) {
  const p = join(shots, name);
  await page.screenshot({ path: p, fullPage: true });
  report.screenshots.push(p);
}

const tag = randomBytes(4).toString('hex');
// A real 40x30 PNG (red), for the notebook rendering check.
const PNG_B64 = 'iVBORw0KGgoAAAANSUhEUgAAACgAAAAeCAIAAADRv8uKAAAAKUlEQVR4nO3NoQ0AAAwCMP5/ensBh2lS31wysVnFYrFYLBaLxWKxWFx5Pp2rjeB5c/4AAAAASUVORK5CYII=';
const outcome = (page, id) => page.locator(id).getAttribute('data-outcome');
async function waitOutcome(page, id, want, timeout = 60000) {
  await page.waitForFunction(([sel, w]) => {
    const o = document.querySelector(sel).dataset.outcome;
    return w.includes(o) || o === 'failed';
  }, [id, want], { timeout });
  return { outcome: await outcome(page, id), text: await page.locator(id).textContent() };
}

// The main deployment limits code runs (30 a minute): a 429 (or every
// sandbox busy) is not what is under test, so such an action is repeated.
const BUSY = /too many requests|rate.limit|try again|capacity|busy/i;
const sleep = (ms) => new Promise((res) => setTimeout(res, ms));
async function act(page, sel, fn, wants, timeout = 60000) {
  for (let i = 0; i < 40; i++) {
    await page.evaluate((q) => { document.querySelector(q).dataset.outcome = 'pending'; }, sel);
    await fn(i);
    const r = await waitOutcome(page, sel, wants, timeout);
    if (r.outcome === 'failed' && BUSY.test(r.text)) {
      await sleep(2000);
      continue;
    }
    return r;
  }
  throw new Error('the server kept answering 429');
}
// Start a session step and wait until its output shows marker.
async function startStep(page, fn, marker) {
  for (let i = 0; i < 40; i++) {
    await page.evaluate(() => { document.querySelector('#fs-status').dataset.outcome = 'pending'; });
    await fn();
    await page.waitForFunction((m) => document.querySelector('#fs-output').textContent.includes(m) ||
      document.querySelector('#fs-status').dataset.outcome === 'failed', marker, { timeout: 30000 });
    const st = await page.locator('#fs-status').textContent();
    if ((await outcome(page, '#fs-status')) === 'failed' && BUSY.test(st)) {
      await sleep(2000);
      continue;
    }
    return;
  }
  throw new Error('the server kept answering 429');
}
// Run notebook cell i (Shift+Enter, then the cell's Run button on a retry).
async function runCellAt(page, i, code, timeout = 60000) {
  const cell = page.locator('#nb-cells .cell').nth(i);
  if (code !== undefined) await cell.locator('textarea').fill(code);
  for (let k = 0; k < 40; k++) {
    if (k === 0) await cell.locator('textarea').press('Shift+Enter');
    else await cell.locator('.cell-head button', { hasText: 'Run' }).click();
    await cellDone(page, i, timeout);
    if (BUSY.test(await cell.locator('.cell-status').textContent())) {
      await sleep(2000);
      continue;
    }
    return cell;
  }
  throw new Error('the server kept answering 429');
}

// A notebook cell has finished (done, error or cancelled).
async function cellDone(page, i, timeout = 60000) {
  await page.waitForFunction((n) => ['done', 'error', 'cancelled'].includes(
    document.querySelectorAll('#nb-cells .cell')[n]?.dataset.state), i, { timeout });
}

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'],
});
const consoleErrors = [];
const outside = [];
let context;

const pages = [];
function watch(page) {
  pages.push(page);
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of [45]\d\d/.test(m.text())) consoleErrors.push(m.text());
  });
  // Nothing may be fetched from outside the service.
  page.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(base + '/') && !/^(data|blob|about):/.test(u)) outside.push(u);
  });
}

try {
  context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  watch(page);
  await page.goto(url, { waitUntil: 'load' });
  await page.waitForFunction(() => document.querySelector('#status').dataset.outcome === 'ready', null,
    { timeout: 20000 });

  /* ------------------------------------------------------------ files */

  // Keyboard: the tabs are reached with Tab and moved with the arrow keys.
  await page.locator('#tab-run').focus();
  await page.keyboard.press('ArrowRight');
  check('arrow keys move between the tabs', await page.locator('#view-files').isVisible() &&
    (await page.evaluate(() => document.activeElement.id)) === 'tab-files');
  await page.selectOption('#fs-runtime', 'python');
  const created = await act(page, '#fs-status', async () => {
    await page.locator('#fs-create').focus();
    await page.keyboard.press('Enter');
  }, ['ready']);
  check('a session is created', created.outcome === 'ready', created);
  const sid = await page.locator('#fs-id').textContent();
  check('session id shown', /^sess_[0-9a-f]{32}$/.test(sid), sid);
  const expires = await page.locator('#fs-expires').textContent();
  check('TTL visible', /^in \d+ (h|min)/.test(expires) && /without use/.test(expires), expires);
  const disk = await page.locator('#fs-disk-text').textContent();
  check('quota visible', / of 512 MiB used$/.test(disk), disk);
  const ext = await act(page, '#fs-status', () => page.click('#fs-extend'), ['extended']);
  check('Extend counts the TTL from now', ext.outcome === 'extended' && /expires in 60 min/.test(ext.text), ext);
  check('the token is in no URL and no storage', await page.evaluate(() =>
    !location.href.includes('tok_') && !JSON.stringify({ ...localStorage }).includes('tok_') &&
    !JSON.stringify({ ...sessionStorage }).includes('tok_')));

  // Upload with the file picker.
  const script = 'import sys\nprint("hello from", sys.argv[0])\nprint(open("data/notes.txt").read().upper())\n';
  await page.setInputFiles('#fs-pick', [{ name: 'hello.py', mimeType: 'text/x-python', buffer: Buffer.from(script) }]);
  let up = await waitOutcome(page, '#fs-status', ['uploaded']);
  check('upload with the file picker', up.outcome === 'uploaded', up);
  const row = page.locator('#fs-tree li[data-path="hello.py"]');
  check('the uploaded file is in the tree', await row.isVisible());
  check('its size is shown', (await row.locator('.size').textContent()) === `${script.length} bytes`,
    await row.locator('.size').textContent());

  // Upload by drag and drop, into a folder.
  await page.fill('#fs-dir', 'data');
  const notes = `notes ${tag}\n`;
  const dt = await page.evaluateHandle((text) => {
    const d = new DataTransfer();
    d.items.add(new File([text], 'notes.txt', { type: 'text/plain' }));
    return d;
  }, notes);
  await page.dispatchEvent('#fs-drop', 'dragenter', { dataTransfer: dt });
  await page.dispatchEvent('#fs-drop', 'dragover', { dataTransfer: dt });
  await page.dispatchEvent('#fs-drop', 'drop', { dataTransfer: dt });
  up = await waitOutcome(page, '#fs-status', ['uploaded']);
  check('upload by drag and drop', up.outcome === 'uploaded', up);
  check('the dropped file is in its folder in the tree',
    await page.locator('#fs-tree li[data-path="data"] li[data-path="data/notes.txt"]').isVisible());
  // Folders open and close.
  const toggle = page.locator('#fs-tree li[data-path="data"] > .entry button.toggle');
  await toggle.click();
  check('a folder closes', (await toggle.getAttribute('aria-expanded')) === 'false' &&
    await page.locator('#fs-tree li[data-path="data/notes.txt"]').count() === 0);
  await toggle.click();
  await page.locator('#fs-tree li[data-path="data/notes.txt"]').waitFor();
  check('a folder opens (GET fs on it)', (await toggle.getAttribute('aria-expanded')) === 'true');

  // Download: the content equals the upload.
  const [dl] = await Promise.all([
    page.waitForEvent('download'),
    page.locator('#fs-tree li[data-path="data/notes.txt"] button', { hasText: 'Download' }).click(),
  ]);
  const got = readFileSync(await dl.path(), 'utf8');
  check('download content equals the upload', got === notes && dl.suggestedFilename() === 'notes.txt',
    { got, name: dl.suggestedFilename() });

  check('only files of the session\'s language offer Run',
    await page.locator('#fs-tree li[data-path="data/notes.txt"] button', { hasText: 'Run' }).count() === 0);
  // Run a workspace file in the session: output streams into the page.
  let ran = await act(page, '#fs-status',
    () => page.locator('#fs-tree li[data-path="hello.py"] button', { hasText: 'Run' }).click(), ['ok', 'exit']);
  check('a file runs in the session', ran.outcome === 'ok', ran);
  const out = await page.locator('#fs-output').textContent();
  check("its output is shown", out.includes("hello from") && out.includes(`NOTES ${tag.toUpperCase()}`), out);
  // Code typed in the command box, run with Ctrl+Enter, writes a file the
  // tree then shows.
  await page.fill('#fs-cmd', 'import time\nfor i in range(3):\n    print("step", i, flush=True)\n    time.sleep(0.7)\n' +
    'open("made-by-step.txt", "w").write("x" * 1000)\n');
  await startStep(page, async () => {
    await page.locator('#fs-cmd').focus();
    await page.keyboard.press('Control+Enter');
  }, 'step 0');
  check('step output streams before the step ends',
    (await outcome(page, '#fs-status')) === 'running', await page.locator('#fs-output').textContent());
  ran = await waitOutcome(page, '#fs-status', ['ok']);
  check('the step succeeds', ran.outcome === 'ok', ran);
  await page.locator('#fs-tree li[data-path="made-by-step.txt"]').waitFor({ timeout: 10000 });
  check('a file the step wrote appears in the tree',
    (await page.locator('#fs-tree li[data-path="made-by-step.txt"] .size').textContent()) === '1000 bytes');

  // Interrupt a long step from the page (SIGINT to the step).
  await page.fill('#fs-cmd', 'import time\nprint("sleeping", flush=True)\ntime.sleep(60)\n');
  const t0 = Date.now();
  await startStep(page, () => page.click('#fs-run'), 'sleeping');
  await page.click('#fs-stop');
  const intr = await waitOutcome(page, '#fs-status', ['ok', 'exit'], 60000);
  check('Interrupt stops a running step', intr.outcome === 'exit' && Date.now() - t0 < 30000 &&
    (await page.locator('#fs-output').textContent()).includes('KeyboardInterrupt'),
  { intr, ms: Date.now() - t0, out: await page.locator('#fs-output').textContent() });

  // Delete (asks once more on the same button): the row goes, and stays
  // gone after a refresh from the server.
  const del = page.locator('#fs-tree li[data-path="hello.py"] button.danger');
  await del.click();
  check('delete asks to confirm', (await del.textContent()) === 'Really delete?');
  await del.click();
  const gone = await waitOutcome(page, '#fs-status', ['deleted']);
  check('delete reported', gone.outcome === 'deleted', gone);
  await page.click('#fs-refresh');
  await page.waitForTimeout(500);
  check('delete removes it from the tree', await page.locator('#fs-tree li[data-path="hello.py"]').count() === 0 &&
    await page.locator('#fs-tree li[data-path="made-by-step.txt"]').count() === 1);
  await shot(page, 'playground-files.png');

  /* ------------------------------------------------------------ memory */

  await page.click('#tab-memory');
  const ns = `www-test-${tag}`;
  await page.fill('#mem-ns', ns);
  await page.fill('#mem-key', 'notes/greeting');
  await page.fill('#mem-value', 'hello memory ✓');
  await page.fill('#mem-ttl', '3600');
  await page.click('#mem-save');
  let m = await waitOutcome(page, '#mem-status', ['saved']);
  check('put from the page', m.outcome === 'saved', m);
  await page.locator(`#mem-namespaces button`, { hasText: ns }).waitFor();
  check('the namespace is listed', true);
  await page.locator('#mem-keys-body tr[data-key="notes/greeting"]').waitFor();
  check('the key is listed with its TTL', /^in (59 min|60 min|1 h)/.test(
    await page.locator('#mem-keys-body tr[data-key="notes/greeting"] td').nth(1).textContent()),
  await page.locator('#mem-keys-body tr[data-key="notes/greeting"] td').nth(1).textContent());
  await page.fill('#mem-value', '');
  await page.locator('#mem-keys-body tr[data-key="notes/greeting"] button').click();
  m = await waitOutcome(page, '#mem-status', ['loaded']);
  check('the value shown after a put', (await page.inputValue('#mem-value')) === 'hello memory ✓', m);
  const etag = await page.locator('#mem-etag').textContent();
  check('its ETag shown', /^"[0-9a-f]{64}"$/.test(etag), etag);

  // Someone else changes it: the page's overwrite is refused (If-Match)...
  const key = encodeURIComponent('notes') + '/' + encodeURIComponent('greeting');
  let r = await fetch(`${base}/v1/memory/${ns}/${key}`, { method: 'PUT', body: 'changed elsewhere' });
  check('changed by another writer', r.status === 204, r.status);
  await page.fill('#mem-value', 'my edit');
  await page.click('#mem-save');
  m = await waitOutcome(page, '#mem-status', ['conflict']);
  check('ETag-aware overwrite refuses a stale edit', m.outcome === 'conflict' && /changed since you loaded it/.test(m.text), m);
  r = await fetch(`${base}/v1/memory/${ns}/${key}`);
  check('the other write is kept', (await r.text()) === 'changed elsewhere');
  // ...until the person chooses to overwrite.
  await page.uncheck('#mem-cas');
  await page.click('#mem-save');
  m = await waitOutcome(page, '#mem-status', ['saved']);
  r = await fetch(`${base}/v1/memory/${ns}/${key}`);
  check('overwrite when asked', m.outcome === 'saved' && (await r.text()) === 'my edit', m);
  await page.check('#mem-cas');

  // A binary value is offered as a download, byte for byte.
  const bin = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  r = await fetch(`${base}/v1/memory/${ns}/blob.bin`, {
    method: 'PUT', body: bin, headers: { 'Content-Type': 'application/octet-stream' },
  });
  check('binary value stored', r.status === 204, r.status);
  await page.click('#mem-reload');
  await page.fill('#mem-list-ns', ns);
  await page.click('#mem-list button[type="submit"]');
  await page.locator('#mem-keys-body tr[data-key="blob.bin"] button').click();
  await waitOutcome(page, '#mem-status', ['loaded']);
  check('binary value not shown as text', await page.locator('#mem-binary').isVisible() &&
    !(await page.locator('#mem-value').isVisible()) &&
    /Binary value, 256 bytes/.test(await page.locator('#mem-binary-text').textContent()));
  const [bdl] = await Promise.all([page.waitForEvent('download'), page.click('#mem-binary button')]);
  check('binary value downloads byte for byte', Buffer.compare(readFileSync(await bdl.path()), bin) === 0);

  // Delete.
  await page.click('#mem-delete');
  m = await waitOutcome(page, '#mem-status', ['deleted']);
  check('delete from the page', m.outcome === 'deleted', m);
  await page.waitForFunction(() => !document.querySelector('#mem-keys-body tr[data-key="blob.bin"]'));
  r = await fetch(`${base}/v1/memory/${ns}/blob.bin`);
  check('the deleted key is gone', r.status === 404, r.status);
  await shot(page, 'playground-memory.png');
  await fetch(`${base}/v1/memory/${ns}/${key}`, { method: 'DELETE' });

  /* ------------------------------------------------------------ notebook */

  await page.click('#tab-notebook');
  await page.selectOption('#nb-runtime', 'python');
  // A cold matplotlib import may take a few seconds under gVisor.
  await page.fill('#nb-wall', '20');
  const cell1 = page.locator('#nb-cells .cell').first();
  await cell1.locator('textarea').fill('x = 21\nx * 2');
  const nb = await act(page, '#nb-status', async (attempt) => {
    if (attempt === 0) {
      await cell1.locator('textarea').focus();
      await page.keyboard.press('Shift+Enter');
    } else {
      await cell1.locator('.cell-head button', { hasText: 'Run' }).click();
    }
  }, ['ready', 'kernel_disabled', 'kernel_unavailable']);
  if (nb.outcome === 'kernel_disabled' || nb.outcome === 'kernel_unavailable') {
    // No kernels on this server yet: the page says so, with the server's code.
    report.kernels = nb.outcome;
    check('no kernel: the server\'s error is shown', /kernel/i.test(nb.text) && nb.text.includes(`[${nb.outcome}]`), nb);
    check('the cell says it did not run',
      /not run/i.test(await cell1.locator('.cell-status').textContent()));
    check('Shift+Enter moved to a new cell', await page.locator('#nb-cells .cell').count() === 2 &&
      await page.evaluate(() => document.activeElement.closest('.cell')?.dataset.cell === '2'));
  } else {
    // Kernels are there: the real thing.
    report.kernels = 'available';
    check('a kernel starts', nb.outcome === 'ready', nb);
    await cellDone(page, 0);
    if (BUSY.test(await cell1.locator('.cell-status').textContent())) await runCellAt(page, 0);
    check('the last expression\'s value shown', (await cell1.locator('.result').first().textContent()).trim() === '42',
      await cell1.locator('.cell-out').textContent());
    check('the TTL of the kernel is visible', /^in /.test(await page.locator('#nb-expires').textContent()));
    const cell2 = page.locator('#nb-cells .cell').nth(1);
    await runCellAt(page, 1, 'import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.title("w")\n' +
      'print("plotted", x)\n', 90000);
    const img = await cell2.locator('.result img').count() ? await cell2.locator('.result img').evaluate((i) =>
      ({ w: i.naturalWidth, h: i.naturalHeight, src: i.src.slice(0, 22) })) : await cell2.locator('.cell-out').textContent();
    check('a matplotlib plot appears as a picture under its cell', img.w > 100 && img.h > 100 && img.src === 'data:image/png;base64,', img);
    check('its stdout streamed above it', (await cell2.locator('.stream').textContent()).includes('plotted 21'));
    const cell3 = await runCellAt(page, 2, '1/0');
    check('a traceback is shown', /ZeroDivisionError/.test(await cell3.locator('.traceback').textContent()));
    check('the traceback is shown once', !(await cell3.locator('.stream').isVisible()) ||
      !(await cell3.locator('.stream').textContent()).includes('ZeroDivisionError'));
    // Interrupt: a sleeping cell stops, variables stay.
    const cell4 = page.locator('#nb-cells .cell').nth(3);
    await cell4.locator('textarea').fill('import time\nprint("zzz", flush=True)\ntime.sleep(100)');
    for (let k = 0; k < 40; k++) {
      if (k === 0) await cell4.locator('textarea').press('Shift+Enter');
      else await cell4.locator('.cell-head button', { hasText: 'Run' }).click();
      await page.waitForFunction(() => {
        const c = document.querySelectorAll('#nb-cells .cell')[3];
        return c.querySelector('.stream').textContent.includes('zzz') || ['error', 'done'].includes(c.dataset.state);
      }, null, { timeout: 30000 });
      if (!BUSY.test(await cell4.locator('.cell-status').textContent())) break;
      await sleep(2000);
    }
    const ti = Date.now();
    await page.click('#nb-interrupt');
    await cellDone(page, 3, 30000);
    check('Interrupt stops a cell', Date.now() - ti < 10000 &&
      /interrupted/i.test(await cell4.locator('.cell-status').textContent()),
    await cell4.locator('.cell-status').textContent());
    const cell5 = await runCellAt(page, 4, 'x');
    check('variables kept after an interrupt', (await cell5.locator('.result.main').textContent()).trim() === '21');
    // Restart: the variables are gone.
    await act(page, '#nb-status', () => page.click('#nb-restart'), ['restarted']);
    const cell6 = await runCellAt(page, 5, 'x');
    check('Restart clears the variables', /NameError/.test(await cell6.locator('.traceback').textContent()));
    // A DataFrame is HTML: rendered in the sandboxed frame.
    const cell7 = await runCellAt(page, 6, 'import pandas as pd\npd.DataFrame({"a": [1, 2], "b": ["x", "y"]})', 90000);
    await cell7.locator('iframe.html-result').waitFor({ timeout: 10000 });
    const cells = await page.frameLocator('#nb-cells .cell >> nth=6 >> iframe.html-result').locator('td').allTextContents();
    check('a DataFrame shows as a table', cells.join(',').includes('x') && cells.length >= 4, cells);
    await shot(page, 'playground-notebook-kernel.png');
    await page.click('#nb-close');
    await waitOutcome(page, '#nb-status', ['closed']);
    // JavaScript: declarations persist from cell to cell.
    if ((await page.locator('#nb-runtime option').allTextContents()).includes('javascript')) {
      await page.selectOption('#nb-runtime', 'javascript');
      const js = await act(page, '#nb-status', () => page.click('#nb-start'), ['ready']);
      check('a javascript kernel starts', js.outcome === 'ready', js);
      const j1 = await runCellAt(page, 7, 'const a = 20\nlet b = await Promise.resolve(22)');
      const j2 = await runCellAt(page, 8, 'a + b');
      check('javascript: const/let/await persist', await j2.locator('.result.main').count() === 1 &&
        (await j2.locator('.result.main').textContent()).trim() === '42',
      [await j1.locator('.cell-out').textContent(), await j2.locator('.cell-out').textContent()]);
      await page.click('#nb-close');
      await waitOutcome(page, '#nb-status', ['closed']);
    }
  }

  // How results render, with the kernel's answers given by the test (not
  // by the server) so it holds with or without kernels: an image/png as
  // <img>, HTML in a frame that runs nothing and loads nothing, streamed
  // stdout, a traceback, the execution count.
  const page2 = await context.newPage();
  watch(page2);
  const fakeId = 'sess_' + '0'.repeat(31) + '1';
  await page2.route('**/v1/sessions', (route) => route.request().method() !== 'POST' ? route.continue()
    : route.fulfill({
      status: 201, contentType: 'application/json',
      body: JSON.stringify({ id: fakeId, token: 'tok_' + 'a'.repeat(64), runtime: 'python', version: '3', type: 'kernel',
        state: 'running', ttlSec: 3600, expiresAt: new Date(Date.now() + 3600e3).toISOString() }),
    }));
  await page2.route(`**/v1/sessions/${fakeId}`, (route) => route.fulfill({
    status: route.request().method() === 'DELETE' ? 204 : 200, contentType: 'application/json',
    body: route.request().method() === 'DELETE' ? '' : JSON.stringify({ id: fakeId, runtime: 'python', type: 'kernel',
      ttlSec: 3600, expiresAt: new Date(Date.now() + 3600e3).toISOString() }),
  }));
  let sentToken = null;
  await page2.route(`**/v1/sessions/${fakeId}/exec`, (route) => {
    sentToken = route.request().headers()['x-session-token'];
    const ev = (name, data) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
    route.fulfill({
      status: 200, contentType: 'text/event-stream',
      body: ev('stdout', { chunk: 'streamed line\n', stage: 'run' }) +
        ev('display', { data: { 'image/png': PNG_B64, 'text/plain': '<Figure>' }, metadata: {} }) +
        ev('display', { data: { 'text/html': `<b id="bold">bold</b><script>parent.document.title="pwned"</script>` +
          `<img src="http://203.0.113.9/x.png" onerror="parent.document.title='pwned'"><table><tr><td>1</td></tr></table>`,
        'text/plain': 'df' }, metadata: {} }) +
        ev('result', { data: { 'text/plain': '42' }, metadata: {}, isMainResult: true }) +
        ev('done', { run: { stdout: 'streamed line\n', stderr: '', exitCode: 0, durationMs: 12 },
          kernel: { executionCount: 7, results: [], error: null, interrupted: false, restarted: false } }),
    });
  });
  await page2.goto(url, { waitUntil: 'load' });
  await page2.waitForFunction(() => document.querySelector('#status').dataset.outcome === 'ready');
  await page2.click('#tab-notebook');
  const c = page2.locator('#nb-cells .cell').first();
  await c.locator('textarea').fill('plot()');
  await c.locator('textarea').press('Shift+Enter');
  await page2.waitForFunction(() => document.querySelector('#nb-cells .cell .prompt').textContent === '[7]:');
  check('[given answers] the session token goes in X-Session-Token', sentToken === 'tok_' + 'a'.repeat(64));
  const pimg = await c.locator('.result img').evaluate((i) => ({ w: i.naturalWidth, h: i.naturalHeight }));
  check('[given answers] image/png shown as an <img> under the cell', pimg.w === 40 && pimg.h === 30, pimg);
  const frame = c.locator('iframe.html-result');
  const sandbox = await frame.getAttribute('sandbox');
  check('[given answers] HTML in a sandboxed frame without scripts', sandbox !== null && !sandbox.includes('allow-scripts'), sandbox);
  const srcdoc = await frame.getAttribute('srcdoc');
  check('[given answers] HTML sanitized', !/<script|onerror|203\.0\.113/.test(srcdoc) && srcdoc.includes('<b id="bold">'), srcdoc);
  const inner = await page2.frameLocator('#nb-cells iframe.html-result').locator('#bold').textContent();
  check('[given answers] HTML rendered', inner === 'bold' && (await page2.title()) !== 'pwned');
  check('[given answers] stdout and the main result shown',
    (await c.locator('.stream').textContent()) === 'streamed line\n' &&
    (await c.locator('.result.main').textContent()).trim() === '42');
  await shot(page2, 'playground-notebook.png');
  await page2.close();

  /* ------------------------------------------------------------ phone */

  const phone = await browser.newContext({
    viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true,
  });
  const pp = await phone.newPage();
  watch(pp);
  await pp.goto(url);
  await pp.waitForFunction(() => document.querySelector('#status').dataset.outcome === 'ready', null, { timeout: 20000 });
  const widths = {};
  for (const v of ['files', 'notebook', 'memory']) {
    await pp.click(`#tab-${v}`);
    if (v === 'files') {
      await act(pp, '#fs-status', () => pp.click('#fs-create'), ['ready']);
      await pp.setInputFiles('#fs-pick', [{ name: 'a-rather-long-file-name-for-a-narrow-screen.txt', mimeType: 'text/plain', buffer: Buffer.from('x') }]);
      await waitOutcome(pp, '#fs-status', ['uploaded']);
    }
    widths[v] = await pp.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    await shot(pp, `playground-phone-${v}.png`);
  }
  check('every view fits a 390 px screen', Object.values(widths).every((w) => w <= 0), widths);
  await pp.click('#tab-files');
  await pp.click('#fs-close');
  await waitOutcome(pp, '#fs-status', ['closed']);
  await phone.close();

  // A session whose page goes away is closed (its token died with the
  // page): navigating away sends the DELETE.
  const p3 = await context.newPage();
  watch(p3);
  await p3.goto(url);
  await p3.waitForFunction(() => document.querySelector('#status').dataset.outcome === 'ready');
  await p3.click('#tab-files');
  await act(p3, '#fs-status', () => p3.click('#fs-create'), ['ready']);
  const orphan = await p3.locator('#fs-id').textContent();
  await p3.goto('about:blank');
  let listed = true;
  for (let i = 0; i < 50 && listed; i++) {
    await new Promise((res) => setTimeout(res, 200));
    const all = await (await fetch(`${base}/v1/sessions`)).json();
    listed = all.sessions.some((x) => x.id === orphan);
  }
  check('leaving the page closes its sessions', !listed, orphan);
  await p3.close();

  await page.click('#tab-files');
  await page.click('#fs-close');
  const closed = await waitOutcome(page, '#fs-status', ['closed']);
  check('close the session', closed.outcome === 'closed', closed);
  check('nothing fetched from outside the service', outside.length === 0, outside);
  check('no script errors', consoleErrors.length === 0, consoleErrors);
} catch (e) {
  report.error = String(e && e.stack ? e.stack : e);
} finally {
  // Leaving each page closes the sessions it still holds (after a failure).
  for (const p of pages) await p.goto('about:blank', { timeout: 5000 }).catch(() => {});
  await browser.close();
}
process.stdout.write(JSON.stringify(report) + '\n');
process.exit(report.error ? 1 : 0);
