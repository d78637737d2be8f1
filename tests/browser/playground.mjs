// playground.mjs - drive the isobox playground in a real browser (Debian's
// chromium through playwright-core) the way a user would, against a live
// server. Prints one JSON report on stdout and exits non-zero on the first
// failed check. Run by tests/browser/test_playground.py.
//
//   node tests/browser/playground.mjs URL SCREENSHOT_DIR [CHROMIUM]
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const url = (process.argv[2] || 'http://127.0.0.1:8090').replace(/\/+$/, '') + '/';
const shots = process.argv[3] || 'build';
const executablePath = process.argv[4] || process.env.CHROMIUM || '/usr/bin/chromium';
mkdirSync(shots, { recursive: true });

const report = { checks: [], screenshots: [] };
function check(name, ok, detail) {
  report.checks.push({ name, ok: !!ok, detail: detail ?? null });
  if (!ok) throw new Error(`check failed: ${name}${detail ? `: ${JSON.stringify(detail)}` : ''}`);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run',
    '--disable-dev-shm-usage'],
});

async function outcome(page) {
  return page.locator('#status').getAttribute('data-outcome');
}

// Run the program in the page and wait for the end. A 429 (rate limit,
// every sandbox busy) is not what is under test: wait and run again.
async function runAndWait(page, { viaKeyboard = false, onRunning } = {}) {
  for (let attempt = 0; attempt < 40; attempt++) {
    const before = Number(await page.evaluate(() => document.body.dataset.runs || 0));
    if (viaKeyboard) {
      await page.locator('#code').focus();
      await page.keyboard.press('Control+Enter');
    } else {
      await page.locator('#run').click();
    }
    await page.waitForFunction((n) => Number(document.body.dataset.runs || 0) > n, before, { timeout: 10000 });
    if (onRunning) await onRunning();
    await page.waitForFunction(() => document.querySelector('#status').dataset.outcome !== 'running', null,
      { timeout: 120000 });
    const text = await page.locator('#status').textContent();
    if ((await outcome(page)) === 'failed' && /too many requests|sandboxes are busy|try again/i.test(text)) {
      await sleep(2000);
      continue;
    }
    return { outcome: await outcome(page), status: text };
  }
  throw new Error('the server kept answering 429');
}

async function setCode(page, code) {
  await page.locator('#code').fill(code);
}

try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  let page = await context.newPage();
  const consoleErrors = [];
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of 4\d\d|status of 5\d\d/.test(m.text())) consoleErrors.push(m.text());
  });

  await page.goto(url, { waitUntil: 'load' });
  await page.waitForFunction(() => document.querySelector('#status').dataset.outcome === 'ready', null,
    { timeout: 20000 });
  const langs = await page.locator('#language option').evaluateAll((os) => os.map((o) => o.value));
  check('languages come from /runtimes', langs.includes('python'), langs);

  // Pick python and type a program; the editor indents after ':' and
  // Shift+Tab dedents.
  await page.selectOption('#language', 'python');
  await setCode(page, '');
  await page.locator('#code').focus();
  await page.keyboard.type('import time\nfor i in range(3):\n');
  await page.keyboard.type('print(f"tick {i}", flush=True)\ntime.sleep(1)\n');
  await page.keyboard.press('Shift+Tab');
  await page.keyboard.type('print("end")');
  const typed = await page.locator('#code').inputValue();
  check('typed code is auto-indented', typed ===
    'import time\nfor i in range(3):\n    print(f"tick {i}", flush=True)\n    time.sleep(1)\nprint("end")', typed);
  await page.waitForFunction(() => document.querySelectorAll('#highlight-code .tok-kw').length >= 3);
  const kws = await page.locator('#highlight-code .tok-kw').allTextContents();
  check('syntax highlighting marks keywords', kws.includes('import') && kws.includes('for'), kws);
  const gutter = await page.locator('#gutter').textContent();
  check('line numbers', gutter.trim().split('\n').length === 5, gutter);

  // Streamed output must show up while the program still runs.
  let streamed = null;
  const run1 = await runAndWait(page, {
    viaKeyboard: true,
    onRunning: async () => {
      await page.waitForFunction(() => document.querySelector('#output').textContent.includes('tick 0') ||
        document.querySelector('#status').dataset.outcome !== 'running', null, { timeout: 30000 });
      streamed = {
        outcome: await outcome(page),
        output: await page.locator('#output').textContent(),
      };
    },
  });
  check('output streams before the run ends', streamed && streamed.outcome === 'running' &&
    !streamed.output.includes('end'), streamed);
  check('the run succeeds', run1.outcome === 'ok', run1);
  const out1 = await page.locator('#output').textContent();
  check('all output arrives', out1 === 'tick 0\ntick 1\ntick 2\nend\n', out1);
  const sig1 = await page.locator('#signals li').allTextContents();
  check('exit code and duration shown', sig1.some((s) => s === 'exit code 0') && sig1.some((s) => /\d+ ms$/.test(s)), sig1);
  await page.screenshot({ path: join(shots, 'playground.png'), fullPage: true });
  report.screenshots.push(join(shots, 'playground.png'));

  // The program is in the URL hash: a new tab with that address has it.
  await page.waitForFunction(() => location.hash.includes('code='));
  const shared = page.url();
  const page2 = await context.newPage();
  await page2.goto(shared);
  await page2.waitForFunction(() => document.querySelector('#status').dataset.outcome === 'ready', null,
    { timeout: 20000 });
  check('state restored from the URL hash', (await page2.locator('#code').inputValue()) === typed &&
    (await page2.locator('#language').inputValue()) === 'python');
  await page2.close();

  // stderr is shown apart, with the exit code.
  await setCode(page, 'import sys\nprint("out")\nprint("oops", file=sys.stderr)\nsys.exit(3)\n');
  const run2 = await runAndWait(page);
  check('non-zero exit reported', run2.outcome === 'error' && /exited with code 3/.test(run2.status), run2);
  check('stderr styled apart', (await page.locator('#output .err').textContent()).includes('oops'));

  // A timeout is shown as a timeout.
  await page.locator('#limits-box summary').click();
  await page.fill('#wallTimeMs', '1000');
  await setCode(page, 'while True:\n    pass\n');
  const run3 = await runAndWait(page);
  check('timeout shown as such', run3.outcome === 'timeout' && /timed out/i.test(run3.status), run3);
  check('timeout badge', await page.locator('#signals li[data-signal="timedOut"]').count() === 1);
  await page.screenshot({ path: join(shots, 'playground-timeout.png'), fullPage: true });
  report.screenshots.push(join(shots, 'playground-timeout.png'));

  // Out of memory under a 64 MiB limit is shown as such.
  await page.fill('#wallTimeMs', '');
  await page.fill('#memoryMiB', '64');
  await setCode(page, 'blocks = []\nwhile True:\n    blocks.append(b"x" * (16 << 20))\n');
  const run4 = await runAndWait(page);
  check('OOM shown as such', run4.outcome === 'oom' && /out of memory/i.test(run4.status), run4);
  check('OOM badge', await page.locator('#signals li[data-signal="oomKilled"]').count() === 1);
  await page.screenshot({ path: join(shots, 'playground-oom.png'), fullPage: true });
  report.screenshots.push(join(shots, 'playground-oom.png'));
  await page.fill('#memoryMiB', '');

  // API errors are sentences; a 401 asks for the key, which is sent as
  // X-API-Key and remembered by the browser.
  await page.locator('#key-box summary').click();
  await page.fill('#apiKey', 'test-key-123');
  await page.locator('#apiKey').dispatchEvent('change');
  let sentKey = null;
  await page.route('**/execute*', async (route) => {
    sentKey = route.request().headers()['x-api-key'] ?? null;
    await route.fulfill({
      status: 401,
      contentType: 'application/json',
      headers: { 'X-Request-Id': 'feedc0de' },
      body: JSON.stringify({ error: 'unauthorized', message: 'a valid API key is required', requestId: 'feedc0de' }),
    });
  });
  const run5 = await runAndWait(page);
  await page.unroute('**/execute*');
  check('API key sent as X-API-Key', sentKey === 'test-key-123', sentKey);
  check('401 shown as a sentence', run5.outcome === 'failed' &&
    /^A valid API key is required\. .*API key/.test(run5.status), run5);
  check('API key kept in localStorage', (await page.evaluate(() => localStorage.getItem('isobox.apiKey'))) === 'test-key-123');
  await page.click('#forget-key');

  // A real API error (400) as the server words it.
  await page.selectOption('#language', 'python');
  await page.fill('#args', '');
  await page.evaluate(() => {
    // A version that does not exist: the server lists the ones it has.
    const o = document.createElement('option');
    o.value = '0.0.1';
    o.textContent = '0.0.1';
    document.querySelector('#version').append(o);
    document.querySelector('#version').disabled = false;
    document.querySelector('#version').value = '0.0.1';
  });
  await setCode(page, 'print(1)\n');
  const run6 = await runAndWait(page);
  check('400 shown as a sentence', run6.outcome === 'failed' && /version/i.test(run6.status) &&
    /\.( \(request [0-9a-f]+\))?$/.test(run6.status), run6);

  // Compiled languages get a compile panel with the compiler's output.
  if (langs.includes('c')) {
    await page.selectOption('#version', { index: 0 }).catch(() => {});
    await page.selectOption('#language', 'c');
    await page.selectOption('#example', 'compile_error');
    const bad = await runAndWait(page);
    check('compile failure shown as such', bad.outcome === 'compile_error' &&
      /compilation failed/i.test(bad.status), bad);
    check('compile panel shows the compiler output', await page.locator('#compile-panel').isVisible() &&
      (await page.locator('#compile-output').textContent()).includes('undefined_name'));
    await page.selectOption('#example', 'hello');
    const good = await runAndWait(page);
    check('compiled program runs', good.outcome === 'ok' &&
      (await page.locator('#output').textContent()) === 'Hello from isobox!\n', good);
    check('compile signals shown', (await page.locator('#compile-signals li').allTextContents())
      .includes('exit code 0'));
    await page.screenshot({ path: join(shots, 'playground-compiled.png'), fullPage: true });
    report.screenshots.push(join(shots, 'playground-compiled.png'));
    report.compiled = true;
  } else {
    report.compiled = false;
  }

  // Phone-sized screen: one column, nothing wider than the screen.
  await context.close();
  const phone = await browser.newContext({
    viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true,
  });
  page = await phone.newPage();
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  await page.goto(shared);
  await page.waitForFunction(() => document.querySelector('#status').dataset.outcome === 'ready', null,
    { timeout: 20000 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check('fits a phone screen', overflow <= 0, overflow);
  const runBox = await page.locator('#run').boundingBox();
  check('Run button reachable on a phone', runBox && runBox.width >= 44 && runBox.x + runBox.width <= 390, runBox);
  await page.screenshot({ path: join(shots, 'playground-phone.png'), fullPage: true });
  report.screenshots.push(join(shots, 'playground-phone.png'));

  // Keyboard only: Tab from the language picker reaches Run.
  await page.locator('#language').focus();
  let reached = false;
  for (let i = 0; i < 8 && !reached; i++) {
    await page.keyboard.press('Tab');
    reached = await page.evaluate(() => document.activeElement && document.activeElement.id === 'run');
  }
  check('Run reachable with the keyboard', reached);

  check('no script errors', consoleErrors.length === 0, consoleErrors);
  await phone.close();
} catch (e) {
  report.error = String(e && e.stack ? e.stack : e);
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(report) + '\n');
process.exit(report.error ? 1 : 0);
