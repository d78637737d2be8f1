// volumes.mjs - drive the playground's Volumes view in a real browser
// (Debian's chromium through playwright-core) against a live server,
// asserting what a person sees: a created volume in the list, uploaded
// files in its tree, a download equal to the upload, a copy holding the
// same files and changed on its own, writes refused while a session holds
// the volume, delete. Prints one JSON report on stdout and exits non-zero on
// the first failed check. Run by tests/browser/test_volumes_view.py.
//
//   node tests/browser/volumes.mjs URL SCREENSHOT_DIR [CHROMIUM]
import { chromium } from 'playwright-core';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

const base = (process.argv[2] || 'http://127.0.0.1:8090').replace(/\/+$/, '');
const url = base + '/';
const shots = process.argv[3] || 'build';
const executablePath = process.argv[4] || process.env.CHROMIUM || '/usr/bin/chromium';
mkdirSync(shots, { recursive: true });

const report = { checks: [], screenshots: [] };
function check(name, ok, detail) {
  report.checks.push({ name, ok: !!ok, detail: detail ?? null });
  if (!ok) throw new Error(`check failed: ${name}${detail !== undefined ? `: ${JSON.stringify(detail)}` : ''}`);
}
async function shot(page, name) {
  const p = join(shots, name);
  await page.screenshot({ path: p, fullPage: true });
  report.screenshots.push(p);
}
const sleep = (ms) => new Promise((res) => setTimeout(res, ms));
// Wait until the view's status line says one of want (or failed).
async function waitOutcome(page, want, timeout = 30000) {
  await page.waitForFunction((w) => {
    const o = document.querySelector('#vol-status').dataset.outcome;
    return w.includes(o) || o === 'failed';
  }, want, { timeout });
  return {
    outcome: await page.locator('#vol-status').getAttribute('data-outcome'),
    text: await page.locator('#vol-status').textContent(),
  };
}
async function act(page, fn, want) {
  await page.evaluate(() => { document.querySelector('#vol-status').dataset.outcome = 'pending'; });
  await fn();
  return waitOutcome(page, want);
}

const tag = randomBytes(4).toString('hex');
const name = `ui-${tag}`;
const copyName = `ui-${tag}-copy`;
const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'],
});
const consoleErrors = [];
const outside = [];
function watch(page) {
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of [45]\d\d/.test(m.text())) consoleErrors.push(m.text());
  });
  page.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(base + '/') && !/^(data|blob|about):/.test(u)) outside.push(u);
  });
}
// Clean-up through the API, whatever happened.
async function api(method, path, body) {
  const res = await fetch(base + path, {
    method, headers: body ? { 'Content-Type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, doc: res.status === 204 ? null : await res.json().catch(() => null) };
}
let heldSession = null;

try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  watch(page);
  await page.goto(url, { waitUntil: 'load' });
  await page.waitForFunction(() => document.querySelector('#status').dataset.outcome === 'ready', null,
    { timeout: 20000 });

  // Keyboard: End moves to the last tab, Volumes.
  await page.locator('#tab-run').focus();
  await page.keyboard.press('End');
  check('the Volumes tab is reached by keyboard', await page.locator('#view-volumes').isVisible() &&
    (await page.evaluate(() => document.activeElement.id)) === 'tab-volumes');
  await page.waitForFunction(() => document.querySelector('#vol-list').dataset.loaded);

  // Create with the keyboard: type the name, Enter.
  let r = await act(page, async () => {
    await page.locator('#vol-name').focus();
    await page.keyboard.type(name);
    await page.keyboard.press('Tab');
    await page.keyboard.type('16');
    await page.keyboard.press('Enter');
  }, ['created']);
  check('a volume is created', r.outcome === 'created' && r.text.includes(name) && r.text.includes('16 MiB'), r);
  const item = page.locator(`#vol-list li[data-name="${name}"]`);
  check('the created volume is in the list', await item.isVisible() &&
    (await item.textContent()).includes('of 16 MiB'), await item.textContent());
  check('it is open, its cap shown', (await page.locator('#vol-sel-name').textContent()) === name &&
    / of 16 MiB used$/.test(await page.locator('#vol-disk-text').textContent()) &&
    (await page.locator('#vol-sel-held').textContent()) === 'no session');
  check('an empty volume says so', (await page.locator('#vol-tree').textContent()).includes('empty'));
  const volId = await page.locator('#vol-sel-id').textContent();
  check('its id shown', /^vol_[0-9a-f]{32}$/.test(volId), volId);

  // Upload with the picker, then by drag and drop into a folder.
  const readme = `read me ${tag}\n`;
  r = await act(page, () => page.setInputFiles('#vol-pick',
    [{ name: 'readme.txt', mimeType: 'text/plain', buffer: Buffer.from(readme) }]), ['uploaded']);
  check('upload with the file picker', r.outcome === 'uploaded', r);
  const row = page.locator('#vol-tree li[data-path="readme.txt"]');
  check('the uploaded file is in its tree', await row.isVisible() &&
    (await row.locator('.size').textContent()) === `${readme.length} bytes`);
  await page.fill('#vol-dir', 'data/raw');
  const csv = 'x,y\n1,2\n';
  const dt = await page.evaluateHandle((text) => {
    const d = new DataTransfer();
    d.items.add(new File([text], 'points.csv', { type: 'text/csv' }));
    return d;
  }, csv);
  r = await act(page, async () => {
    await page.dispatchEvent('#vol-drop', 'dragenter', { dataTransfer: dt });
    await page.dispatchEvent('#vol-drop', 'dragover', { dataTransfer: dt });
    await page.dispatchEvent('#vol-drop', 'drop', { dataTransfer: dt });
  }, ['uploaded']);
  check('upload by drag and drop', r.outcome === 'uploaded', r);
  check('the dropped file is in its folder in the tree',
    await page.locator('#vol-tree li[data-path="data"] li[data-path="data/raw"] li[data-path="data/raw/points.csv"]').isVisible());

  const [dl] = await Promise.all([
    page.waitForEvent('download'),
    page.locator('#vol-tree li[data-path="readme.txt"] button', { hasText: 'Download' }).click(),
  ]);
  check('download content equals the upload', readFileSync(await dl.path(), 'utf8') === readme &&
    dl.suggestedFilename() === 'readme.txt');

  // Copy (keyboard: the name field, Enter), then open the copy.
  r = await act(page, async () => {
    await page.fill('#vol-copy-name', copyName);
    await page.locator('#vol-copy-name').press('Enter');
  }, ['copied']);
  check('copy the volume', r.outcome === 'copied', r);
  const copyItem = page.locator(`#vol-list li[data-name="${copyName}"]`);
  check('the copy is in the list', await copyItem.isVisible());
  r = await act(page, () => copyItem.locator('button').click(), ['opened']);
  check('the copy holds the same files', (await page.locator('#vol-sel-name').textContent()) === copyName &&
    await page.locator('#vol-tree li[data-path="readme.txt"]').isVisible() &&
    await page.locator('#vol-tree li[data-path="data"]').isVisible(), r);
  // Folders of a volume just opened are closed: open them by keyboard.
  await page.locator('#vol-tree li[data-path="data"] > .entry button.toggle').press('Enter');
  await page.locator('#vol-tree li[data-path="data/raw"] > .entry button.toggle').waitFor();
  await page.locator('#vol-tree li[data-path="data/raw"] > .entry button.toggle').press('Enter');
  await page.locator('#vol-tree li[data-path="data/raw/points.csv"]').waitFor();
  check('folders open from the keyboard', await page.locator('#vol-tree li[data-path="data/raw/points.csv"]').isVisible());
  const del = page.locator('#vol-tree li[data-path="readme.txt"] button.danger');
  await del.click();
  check('delete asks once more', (await del.textContent()) === 'Really delete?');
  r = await act(page, () => del.click(), ['deleted']);
  check('a file deleted from the copy leaves its tree', r.outcome === 'deleted' &&
    await page.locator('#vol-tree li[data-path="readme.txt"]').count() === 0, r);
  await act(page, () => item.locator('button').click(), ['opened']);
  check('the original keeps it', await page.locator('#vol-tree li[data-path="readme.txt"]').isVisible());
  await shot(page, 'playground-volumes.png');

  // Held read-write by a session: an upload is refused and the page says why.
  const made = await api('POST', '/v1/sessions', {
    runtime: 'python', ttlSec: 120, volumes: [{ id: volId, mountPath: '/data', mode: 'rw' }],
  });
  check('a session holds the volume (set-up)', made.status === 201, made);
  heldSession = made.doc;
  r = await act(page, () => page.click('#vol-reload'), ['refreshed']);
  check('who holds it is shown', (await page.locator('#vol-sel-held').textContent()).includes(heldSession.id) &&
    (await item.textContent()).includes('in use'));
  r = await act(page, () => page.setInputFiles('#vol-pick',
    [{ name: 'late.txt', mimeType: 'text/plain', buffer: Buffer.from('late') }]), ['uploaded']);
  check('a write while a session holds it is refused, in words', r.outcome === 'failed' &&
    /late\.txt: .*read-write/i.test(r.text), r);
  await fetch(`${base}/v1/sessions/${heldSession.id}`, { method: 'DELETE', headers: { 'X-Session-Token': heldSession.token } });
  heldSession = null;

  // Delete the copy and the volume (asked twice).
  for (const n of [copyName, name]) {
    await act(page, () => page.locator(`#vol-list li[data-name="${n}"] button`).click(), ['opened']);
    await page.click('#vol-delete');
    r = await act(page, () => page.click('#vol-delete'), ['deleted-volume']);
    check(`delete volume ${n === name ? 'the original' : 'the copy'}`, r.outcome === 'deleted-volume' &&
      await page.locator(`#vol-list li[data-name="${n}"]`).count() === 0 && await page.locator('#vol-main').isHidden(), r);
  }

  // A phone-width screen.
  const phone = await browser.newContext({
    viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true,
  });
  const pp = await phone.newPage();
  watch(pp);
  await pp.goto(url);
  await pp.waitForFunction(() => document.querySelector('#status').dataset.outcome === 'ready', null, { timeout: 20000 });
  await pp.click('#tab-volumes');
  await pp.fill('#vol-name', `${name}-phone`);
  r = await act(pp, () => pp.click('#vol-create'), ['created']);
  await act(pp, () => pp.setInputFiles('#vol-pick', [{ name: 'a-rather-long-file-name-for-a-narrow-screen.txt', mimeType: 'text/plain', buffer: Buffer.from('x') }]), ['uploaded']);
  const overflow = await pp.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  await shot(pp, 'playground-phone-volumes.png');
  check('the Volumes view fits a 390 px screen', overflow <= 0, overflow);
  await pp.click('#vol-delete');
  await act(pp, () => pp.click('#vol-delete'), ['deleted-volume']);
  await phone.close();

  check('nothing fetched from outside the service', outside.length === 0, outside);
  check('no script errors', consoleErrors.length === 0, consoleErrors);
} catch (e) {
  report.error = String(e && e.stack ? e.stack : e);
} finally {
  if (heldSession) {
    await fetch(`${base}/v1/sessions/${heldSession.id}`, { method: 'DELETE', headers: { 'X-Session-Token': heldSession.token } }).catch(() => {});
  }
  const left = await api('GET', '/v1/volumes').catch(() => null);
  for (const v of (left && left.doc && left.doc.volumes) || []) {
    if (v.name.startsWith(`ui-${tag}`)) await api('DELETE', `/v1/volumes/${v.id}`).catch(() => {});
  }
  await browser.close();
}
process.stdout.write(JSON.stringify(report) + '\n');
process.exit(report.error ? 1 : 0);
