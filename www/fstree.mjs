// fstree.mjs - a workspace or volume as a tree, shared by the Files and
// Volumes views: each opened folder listed through the file API (GET fs),
// download, delete (asked twice, no modal), upload by drag and drop (files
// or folders) or a file picker into a chosen folder. The target is any
// object with list(path), download(path), upload(path, blob) and
// remove(path): a Session or a Volume of api.mjs.
import { h, errorSentence, fmtSize, saveBlob } from './ui.mjs';

/**
 * opts: {tree <ul>, drop (drop zone), dir (upload folder <input>), pick
 * (<input type=file>), status(text, kind, outcome), target() (the current
 * target or null), onLost(err) (a listing found the target gone: return
 * true when handled), fileOps(path) (extra buttons of a file row),
 * afterChange() (after an upload or delete), emptyText}.
 * Returns {load(), clear()}.
 */
export function fileTree(opts) {
  const { tree, drop, dir, pick, status } = opts;
  const expanded = new Set(); // folders shown open, kept across reloads

  async function load() {
    const ul = await listing('');
    tree.replaceChildren(...ul.children);
    tree.dataset.loaded = String(Date.now());
  }

  function clear() {
    expanded.clear();
    tree.textContent = '';
  }

  // The <ul> of one folder, with its open subfolders filled in.
  async function listing(path) {
    let doc;
    try {
      doc = await opts.target().list(path);
    } catch (e) {
      if (opts.onLost && opts.onLost(e)) clear();
      throw e;
    }
    const entries = [...doc.entries].sort((a, b) => (b.dir - a.dir) || a.name.localeCompare(b.name));
    const ul = h('ul');
    if (!entries.length && path === '') ul.append(h('li', { class: 'empty hint' }, opts.emptyText || 'Empty.'));
    for (const ent of entries) ul.append(await row(path, ent));
    if (doc.truncated) ul.append(h('li', { class: 'hint' }, 'More entries than a listing shows.'));
    return ul;
  }

  async function row(parent, ent) {
    const path = parent ? `${parent}/${ent.name}` : ent.name;
    const li = h('li', { dataset: { path, kind: ent.dir ? 'dir' : 'file' } });
    if (ent.nameHex) {
      li.append(h('span', { class: 'name' }, ent.name), h('span', { class: 'hint' }, ' (name is not UTF-8)'));
      return li;
    }
    if (ent.dir) {
      const open = expanded.has(path);
      const toggle = h('button', {
        type: 'button', class: 'toggle name', 'aria-expanded': String(open),
        onclick: () => toggleDir(li, path, toggle),
      }, h('span', { class: 'icon', 'aria-hidden': 'true' }, open ? '▾' : '▸'), `${ent.name}/`);
      li.append(h('div', { class: 'entry' }, toggle,
        h('span', { class: 'size hint' }, 'folder'),
        h('span', { class: 'ops' },
          h('button', {
            type: 'button', class: 'small', 'aria-label': `Upload into ${path}/`,
            onclick: () => {
              dir.value = path;
              pick.focus();
              status(`Uploads go into ${path}/ now.`, '', 'target');
            },
          }, 'Upload here'),
          deleteButton(path, true))));
      if (open) li.append(await listing(path));
      return li;
    }
    li.append(h('div', { class: 'entry' },
      h('span', { class: 'name' }, h('span', { class: 'icon', 'aria-hidden': 'true' }, '·'), ent.name),
      h('span', { class: 'size', title: `${ent.size} bytes` }, fmtSize(ent.size)),
      h('span', { class: 'ops' },
        h('button', { type: 'button', class: 'small', 'aria-label': `Download ${path}`, onclick: () => download(path, ent.name) }, 'Download'),
        opts.fileOps ? opts.fileOps(path) : null,
        deleteButton(path, false))));
    return li;
  }

  async function toggleDir(li, path, btn) {
    const open = btn.getAttribute('aria-expanded') === 'true';
    if (open) {
      expanded.delete(path);
      btn.setAttribute('aria-expanded', 'false');
      btn.querySelector('.icon').textContent = '▸';
      li.querySelector(':scope > ul')?.remove();
      return;
    }
    try {
      const ul = await listing(path);
      expanded.add(path);
      btn.setAttribute('aria-expanded', 'true');
      btn.querySelector('.icon').textContent = '▾';
      li.append(ul);
    } catch (err) {
      status(errorSentence(err), 'error', 'failed');
    }
  }

  // Delete asks once more on the same button, without a modal dialog.
  function deleteButton(path, isDir) {
    const label = `Delete ${path}${isDir ? '/' : ''}`;
    const b = h('button', { type: 'button', class: 'small danger', 'aria-label': label }, 'Delete');
    let armed = null;
    b.addEventListener('click', async () => {
      if (!armed) {
        b.textContent = 'Really delete?';
        b.setAttribute('aria-label', `Really delete ${path}${isDir ? '/ and all it holds' : ''}?`);
        armed = setTimeout(() => {
          armed = null;
          b.textContent = 'Delete';
          b.setAttribute('aria-label', label);
        }, 5000);
        return;
      }
      clearTimeout(armed);
      armed = null;
      try {
        await opts.target().remove(path);
        expanded.delete(path);
        await load();
        if (opts.afterChange) await opts.afterChange();
        status(`Deleted ${path}${isDir ? '/' : ''}.`, 'ok', 'deleted');
      } catch (err) {
        status(errorSentence(err), 'error', 'failed');
      }
    });
    return b;
  }

  async function download(path, name) {
    try {
      status(`Downloading ${path}…`, '', 'busy');
      const blob = await opts.target().download(path);
      saveBlob(blob, name);
      status(`Downloaded ${path} (${fmtSize(blob.size)}).`, 'ok', 'downloaded');
    } catch (err) {
      status(errorSentence(err), 'error', 'failed');
    }
  }

  /* ---------------------------------------------------------- upload */

  function targetDir() {
    return dir.value.trim().replace(/^\/+|\/+$/g, '');
  }

  // items: [{path (relative to the target folder), file}]
  async function uploadAll(items) {
    const t = opts.target();
    if (!t || !items.length) return;
    const base = targetDir();
    let done = 0;
    let bytes = 0;
    for (const { path, file } of items) {
      const dest = base ? `${base}/${path}` : path;
      status(`Uploading ${dest} (${done + 1} of ${items.length})…`, '', 'busy');
      try {
        await t.upload(dest, file);
      } catch (err) {
        status(`${dest}: ${errorSentence(err)}`, 'error', 'failed');
        await load().catch(() => {});
        return;
      }
      done++;
      bytes += file.size;
      const parts = dest.split('/');
      for (let i = 1; i < parts.length; i++) expanded.add(parts.slice(0, i).join('/'));
    }
    await load();
    if (opts.afterChange) await opts.afterChange().catch(() => {});
    status(`Uploaded ${done} ${done === 1 ? 'file' : 'files'} (${fmtSize(bytes)}).`, 'ok', 'uploaded');
  }

  pick.addEventListener('change', async () => {
    const files = [...pick.files].map((file) => ({ path: file.name, file }));
    await uploadAll(files);
    pick.value = '';
  });

  // A dropped folder arrives as entries: walk them.
  async function walk(entry, prefix, out) {
    if (entry.isFile) {
      const file = await new Promise((res, rej) => entry.file(res, rej));
      out.push({ path: prefix + entry.name, file });
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      for (;;) {
        const batch = await new Promise((res, rej) => reader.readEntries(res, rej));
        if (!batch.length) break;
        for (const e of batch) await walk(e, `${prefix}${entry.name}/`, out);
      }
    }
  }

  drop.addEventListener('dragover', (e) => {
    if (!opts.target()) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = 'copy';
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', (e) => {
    if (!drop.contains(e.relatedTarget)) drop.classList.remove('over');
  });
  drop.addEventListener('drop', async (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    if (!opts.target()) return;
    const items = [];
    const entries = [...(e.dataTransfer.items || [])]
      .map((it) => (it.kind === 'file' && it.webkitGetAsEntry ? it.webkitGetAsEntry() : null));
    if (entries.length && entries.every(Boolean)) {
      try {
        for (const ent of entries) await walk(ent, '', items);
      } catch {
        items.length = 0;
      }
    }
    if (!items.length) for (const file of e.dataTransfer.files) items.push({ path: file.name, file });
    await uploadAll(items);
  });

  return { load, clear };
}
