// volumes.mjs - the Volumes view: the tenant's volumes (name, used of the
// cap, who holds them), create one, open one to browse, upload, download
// and delete its files through the file API the Files view uses
// (fstree.mjs on /v1/volumes/{id}/fs), copy it (an instant snapshot) and
// delete it. Writes are refused while a session holds a volume read-write.
import { Volume } from './api.mjs';
import { fileTree } from './fstree.mjs';
import { h, errorSentence, fmtSize, fmtTime, setStatus } from './ui.mjs';

const $ = (id) => document.getElementById(id);
const MiB = 1024 * 1024;

export function mountVolumes() {
  const el = {
    form: $('vol-new'), name: $('vol-name'), size: $('vol-size'), create: $('vol-create'),
    status: $('vol-status'), list: $('vol-list'), reload: $('vol-reload'),
    none: $('vol-none'), main: $('vol-main'), selName: $('vol-sel-name'), selId: $('vol-sel-id'),
    held: $('vol-sel-held'), disk: $('vol-disk'), diskText: $('vol-disk-text'),
    copyForm: $('vol-copy'), copyName: $('vol-copy-name'), del: $('vol-delete'),
    tree: $('vol-tree'), drop: $('vol-drop'), dir: $('vol-dir'), pick: $('vol-pick'),
  };
  let current = null; // the open Volume
  let volumes = [];

  const status = (text, kind, outcome) => setStatus(el.status, text, kind, outcome);

  const tree = fileTree({
    tree: el.tree, drop: el.drop, dir: el.dir, pick: el.pick, status,
    target: () => current,
    emptyText: 'The volume is empty: drop files here or choose them below.',
    onLost: (e) => {
      if (e.status === 404 && e.code === 'volume_not_found') {
        close();
        status('The volume is gone (deleted elsewhere).', 'warn', 'gone');
        refreshList().catch(() => {});
        return true;
      }
      return false;
    },
    afterChange: async () => {
      await current.refresh().catch(() => {});
      showCurrent();
      renderList();
    },
  });

  function heldText(v) {
    const a = v.attachedTo || {};
    const parts = [];
    if (a.readWrite) parts.push(`${a.readWrite} (read-write)`);
    for (const s of a.readOnly || []) parts.push(`${s} (read-only)`);
    return parts.length ? parts.join(', ') : 'no session';
  }

  function usage(v) {
    return `${fmtSize(v.usedBytes ?? v.diskBytes ?? 0)} of ${fmtSize(v.sizeBytes)}`;
  }

  function renderList() {
    el.list.replaceChildren(...(volumes.length ? volumes.map((v) => h('li', {
      dataset: { id: v.id, name: v.info.name }, 'aria-current': current && current.id === v.id ? 'true' : false,
    },
    h('button', {
      type: 'button', class: 'linkish name', 'aria-label': `Open volume ${v.info.name}`,
      onclick: () => open(v),
    }, v.info.name),
    h('span', { class: 'size', title: `created ${fmtTime(v.info.createdAt)}` }, usage(v.info)),
    v.info.attachedTo && v.info.attachedTo.readWrite ? h('span', { class: 'hint' }, 'in use') : null))
      : [h('li', { class: 'hint' }, 'No volumes yet: create one above.')]));
  }

  async function refreshList() {
    volumes = await Volume.list();
    // The open volume stays one object: its newer answer updates it.
    const i = current ? volumes.findIndex((v) => v.id === current.id) : -1;
    if (i >= 0) {
      current.info = volumes[i].info;
      volumes[i] = current;
      showCurrent();
    }
    renderList();
    el.list.dataset.loaded = String(Date.now());
  }

  function showCurrent() {
    el.main.hidden = !current;
    el.none.hidden = !!current;
    if (!current) return;
    const v = current.info;
    el.selName.textContent = v.name;
    el.selId.textContent = v.id;
    el.held.textContent = heldText(v);
    el.disk.max = v.sizeBytes || 1;
    el.disk.value = Math.min(v.usedBytes ?? 0, el.disk.max);
    el.diskText.textContent = `${usage(v)} used`;
    el.diskText.title = 'As of the file system\'s last commit (about every 30 s)';
  }

  function close() {
    current = null;
    tree.clear();
    showCurrent();
    renderList();
  }

  async function open(v) {
    current = v;
    el.dir.value = '';
    el.copyName.value = `${v.info.name}-copy`.slice(0, 64);
    tree.clear();
    showCurrent();
    renderList();
    try {
      await current.refresh();
      showCurrent();
      await tree.load();
      status(`Volume ${v.info.name} is open.`, 'ok', 'opened');
    } catch (err) {
      status(errorSentence(err), 'error', 'failed');
    }
  }

  el.form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const name = el.name.value.trim();
    const mib = Number(el.size.value) || 0;
    el.create.disabled = true;
    status(`Creating volume ${name}…`, '', 'busy');
    try {
      const v = await Volume.create(mib > 0 ? { name, sizeBytes: Math.round(mib * MiB) } : { name });
      el.name.value = '';
      await refreshList();
      await open(volumes.find((x) => x.id === v.id) || v);
      status(`Created volume ${name} (${fmtSize(v.info.sizeBytes)} cap).`, 'ok', 'created');
    } catch (err) {
      status(errorSentence(err), 'error', 'failed');
    } finally {
      el.create.disabled = false;
    }
  });

  el.copyForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!current) return;
    const name = el.copyName.value.trim();
    status(`Copying ${current.info.name} to ${name}…`, '', 'busy');
    try {
      await current.copy(name);
      await refreshList();
      status(`Copied ${current.info.name} to ${name}: an instant snapshot, changed independently from now on.`, 'ok', 'copied');
      el.copyName.value = '';
    } catch (err) {
      status(errorSentence(err), 'error', 'failed');
    }
  });

  // Delete asks once more on the same button, without a modal dialog.
  let armed = null;
  el.del.addEventListener('click', async () => {
    if (!current) return;
    if (!armed) {
      el.del.textContent = 'Really delete it and all its files?';
      armed = setTimeout(() => {
        armed = null;
        el.del.textContent = 'Delete volume';
      }, 5000);
      return;
    }
    clearTimeout(armed);
    armed = null;
    el.del.textContent = 'Delete volume';
    const v = current;
    try {
      await v.destroy();
      close();
      await refreshList();
      status(`Deleted volume ${v.info.name} and its files.`, 'ok', 'deleted-volume');
    } catch (err) {
      status(errorSentence(err), 'error', 'failed');
    }
  });

  el.reload.addEventListener('click', async () => {
    try {
      await refreshList();
      if (current) await tree.load();
      status('Refreshed.', '', 'refreshed');
    } catch (err) {
      status(errorSentence(err), 'error', 'failed');
    }
  });

  showCurrent();
  status('Create a volume, or open one of yours.', '', 'idle');
  refreshList().catch((err) => status(errorSentence(err), 'error', 'failed'));
}
