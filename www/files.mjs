// files.mjs - the Files view: a filesystem session's workspace as a tree
// (fstree.mjs: GET fs on each opened folder, upload by drag and drop or a
// file picker, download, delete), disk used against the quota, the idle
// TTL, and code run in the session with its output streamed.
import { Session } from './api.mjs';
import { fileTree } from './fstree.mjs';
import { h, errorSentence, fmtSize, fmtUntil, fmtDuration, fmtTime, setStatus, appendOutput } from './ui.mjs';

const $ = (id) => document.getElementById(id);

// How the session's language runs a workspace file from a step, and which
// file names it runs.
const RUN_FILE = {
  python: [/\.py$/, (p) => `import runpy\nrunpy.run_path(${JSON.stringify(p)}, run_name="__main__")\n`],
  javascript: [/\.[cm]?js$/, (p) => `require(${JSON.stringify('./' + p)});\n`],
  bash: [/\.(sh|bash)$/, (p) => `bash ${shellQuote(p)}\n`],
  ruby: [/\.rb$/, (p) => `load ${JSON.stringify('./' + p)}\n`],
  lua: [/\.lua$/, (p) => `dofile(${JSON.stringify(p)})\n`],
};
const shellQuote = (s) => `'${s.replace(/'/g, `'\\''`)}'`;
function runnerFor(lang, path) {
  const r = RUN_FILE[lang] || RUN_FILE[(lang || '').split('-')[0]];
  return r && r[0].test(path) ? r[1] : null;
}

export function mountFiles(ctx) {
  const el = {
    form: $('fs-new'), runtime: $('fs-runtime'), ttl: $('fs-ttl'), create: $('fs-create'),
    info: $('fs-session'), id: $('fs-id'), lang: $('fs-lang'), state: $('fs-state'),
    expires: $('fs-expires'), disk: $('fs-disk'), diskText: $('fs-disk-text'),
    extend: $('fs-extend'), refresh: $('fs-refresh'), close: $('fs-close'),
    status: $('fs-status'), main: $('fs-main'), tree: $('fs-tree'), drop: $('fs-drop'),
    dir: $('fs-dir'), pick: $('fs-pick'), cmd: $('fs-cmd'), run: $('fs-run'), stop: $('fs-stop'),
    signals: $('fs-signals'), output: $('fs-output'),
  };
  let session = null;
  let running = null;

  for (const lang of ctx.languages()) el.runtime.append(h('option', { value: lang }, lang));
  if (ctx.languages().includes('python')) el.runtime.value = 'python';

  const status = (text, kind, outcome) => setStatus(el.status, text, kind, outcome);

  function showSession() {
    const s = session && session.info;
    el.info.hidden = !s;
    el.main.hidden = !s;
    el.form.hidden = !!s;
    if (!s) return;
    el.id.textContent = s.id;
    el.lang.textContent = `${s.runtime} ${s.version || ''}`.trim();
    el.state.textContent = s.state;
    el.expires.textContent = `${fmtUntil(s.expiresAt)} (after ${fmtDuration(s.ttlSec)} without use)`;
    el.expires.title = fmtTime(s.expiresAt);
    el.expires.dateTime = s.expiresAt;
    el.disk.max = s.diskQuotaBytes || 1;
    el.disk.value = Math.min(s.diskBytes || 0, el.disk.max);
    el.diskText.textContent = `${fmtSize(s.diskBytes || 0)} of ${fmtSize(s.diskQuotaBytes || 0)} used`;
    el.diskText.title = 'As of the file system\'s last commit (about every 30 s)';
  }

  async function refreshInfo() {
    if (!session) return;
    try {
      await session.refresh();
    } catch (e) {
      if (e.status === 404) return lost();
      throw e;
    }
    showSession();
  }

  function lost() {
    session = null;
    tree.clear();
    showSession();
    status('The session is gone (it expired or was closed). Start a new one.', 'warn', 'gone');
  }

  el.form.addEventListener('submit', async (e) => {
    e.preventDefault();
    el.create.disabled = true;
    status('Creating a session…', '', 'busy');
    try {
      const minutes = Number(el.ttl.value) || 0;
      session = await Session.create({
        runtime: el.runtime.value, type: 'filesystem', ttlSec: minutes > 0 ? Math.round(minutes * 60) : undefined,
      });
      ctx.track(session);
      tree.clear();
      el.output.textContent = '';
      el.signals.textContent = '';
      showSession();
      await loadTree();
      status(`Session ${session.id} is ready. Drop files on the workspace or choose them below.`, 'ok', 'ready');
    } catch (err) {
      status(errorSentence(err), 'error', 'failed');
    } finally {
      el.create.disabled = false;
    }
  });

  el.extend.addEventListener('click', async () => {
    try {
      await session.setTtl(session.info.ttlSec);
      showSession();
      status(`The session now expires ${fmtUntil(session.info.expiresAt)} without use.`, 'ok', 'extended');
    } catch (err) {
      status(errorSentence(err), 'error', 'failed');
    }
  });
  el.refresh.addEventListener('click', async () => {
    try {
      await refreshInfo();
      if (session) await loadTree();
    } catch (err) {
      status(errorSentence(err), 'error', 'failed');
    }
  });
  el.close.addEventListener('click', async () => {
    if (!session) return;
    const s = session;
    try {
      await s.close();
    } catch (err) {
      if (err.status !== 404) return status(errorSentence(err), 'error', 'failed');
    }
    ctx.untrack(s);
    session = null;
    el.tree.textContent = '';
    showSession();
    status(`Session ${s.id} was closed: its sandbox and workspace are gone.`, 'ok', 'closed');
  });

  /* ---------------------------------------------------------- tree */

  const tree = fileTree({
    tree: el.tree, drop: el.drop, dir: el.dir, pick: el.pick, status,
    target: () => session,
    emptyText: 'The workspace is empty.',
    onLost: (e) => {
      if (e.status === 404 && e.code === 'session_not_found') {
        lost();
        return true;
      }
      return false;
    },
    afterChange: refreshInfo,
    fileOps: (path) => (runnerFor(session.info.runtime, path)
      ? h('button', { type: 'button', class: 'small', 'aria-label': `Run ${path}`, onclick: () => runFile(path) }, 'Run')
      : null),
  });
  const loadTree = tree.load;

  /* ---------------------------------------------------------- steps */

  function runFile(path) {
    const make = runnerFor(session.info.runtime, path);
    el.cmd.value = make(path);
    runStep();
  }

  async function runStep() {
    if (!session || running) return;
    const code = el.cmd.value;
    if (!code.trim()) {
      status('Type some code to run in the session first.', 'warn', 'empty');
      el.cmd.focus();
      return;
    }
    const ctl = new AbortController();
    running = ctl;
    el.run.disabled = true;
    el.stop.disabled = false;
    el.output.textContent = '';
    el.signals.textContent = '';
    status('Running in the session…', '', 'running');
    let done = null;
    let verdict;
    try {
      for await (const ev of session.exec({ code }, { signal: ctl.signal })) {
        if (ev.event === 'stdout' || ev.event === 'stderr') appendOutput(el.output, ev.data.chunk, ev.event === 'stderr');
        else if (ev.event === 'done') done = ev.data;
        else if (ev.event === 'error') throw Object.assign(new Error(ev.data.message || 'error'), ev.data);
      }
      if (!done || !done.run) {
        verdict = ['The server closed the stream without a result.', 'error', 'failed'];
      } else {
        const r = done.run;
        if (!el.output.textContent) {
          appendOutput(el.output, r.stdout, false);
          appendOutput(el.output, r.stderr, true);
        }
        if (!el.output.textContent) el.output.append(h('span', { class: 'note' }, '(no output)'));
        const badges = [[`exit code ${r.exitCode}`, r.exitCode === 0 ? 'good' : 'bad']];
        if (r.timedOut) badges.push(['timed out', 'bad']);
        if (r.oomKilled) badges.push(['out of memory', 'bad']);
        if (r.truncated) badges.push(['output truncated', 'bad']);
        if (r.signal) badges.push([`signal ${r.signal}`, 'bad']);
        if (done.sandboxRestarted) badges.push(['sandbox restarted', '']);
        badges.push([`${r.durationMs} ms`, '']);
        el.signals.replaceChildren(...badges.map(([t, c]) => h('li', { class: c }, t)));
        const ok = r.exitCode === 0 && !r.timedOut && !r.oomKilled;
        verdict = [ok ? `Finished with exit code 0 in ${r.durationMs} ms.`
          : r.timedOut ? 'Timed out: the step ran past its wall-time limit and was killed.'
            : r.oomKilled ? 'Out of memory: the step went over the session’s memory limit.'
              : `Exited with code ${r.exitCode}.`, ok ? 'ok' : 'error',
        ok ? 'ok' : r.timedOut ? 'timeout' : r.oomKilled ? 'oom' : 'exit'];
      }
    } catch (err) {
      verdict = [errorSentence(err), err.code === 'aborted' ? 'warn' : 'error', 'failed'];
    } finally {
      running = null;
      el.run.disabled = false;
      el.stop.disabled = true;
    }
    // What the step wrote shows in the tree before the verdict does: the
    // reload replaces the tree's rows, and a Delete armed on a row that is
    // about to be replaced would be lost.
    await loadTree().catch(() => {});
    status(...verdict);
    await refreshInfo().catch(() => {});
  }

  el.run.addEventListener('click', runStep);
  el.stop.addEventListener('click', async () => {
    const step = running;
    if (!session || !step) return;
    try {
      await session.interrupt();
      // The step may have ended meanwhile: its verdict stays.
      if (running === step) status('Interrupt sent (SIGINT).', 'warn', 'running');
    } catch (err) {
      if (running === step && err.code !== 'session_idle') status(errorSentence(err), 'error', 'running');
    }
  });
  el.cmd.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey || e.shiftKey)) {
      e.preventDefault();
      e.stopPropagation();
      runStep();
    }
  });

  // The TTL counts down on screen.
  setInterval(() => {
    if (session && !document.hidden && !el.main.hidden) showSession();
  }, 15000);

  showSession();
  status('Create a session to get a workspace: files you upload stay there between runs.', '', 'idle');
}
