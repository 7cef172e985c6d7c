// Resource servers: their scopes, credentials and SSF push health; creating one, editing its
// scopes, rotating its secret and deleting it (/admin/resource-servers).
import { api, ApiError, can } from './api.js';
import { credentialsLine, rotateSecret, secretBox } from './credentials.js';
import { act as runAction, confirmAction, el, localTime, replaceKeepingFocus, say } from './dom.js';
import { editorForm, editorSlot } from './editor.js';

const path = (id) => `admin/resource-servers/${encodeURIComponent(id)}`;
const words = (text) => text.split(/[\s,]+/).filter(Boolean);

/** GET …/ssf-push: the registration and how delivery goes; null when it pushes nowhere (or the server runs no SSF). */
export async function pushStatus(id) {
  try {
    return await api('GET', `${path(id)}/ssf-push`);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return null;
    throw err;
  }
}

export function pushLine(push) {
  if (!push) return el('span', { class: 'badge' }, 'no push (polls the feed)');
  if (!push.delivery.failing) return el('span', { class: 'badge on' }, `push healthy → ${push.endpoint}`);
  return el('span', { class: 'badge off' },
    `push failing since ${localTime(push.delivery.failingSince)} (${push.delivery.attempts} attempts${push.delivery.lastError ? `: ${push.delivery.lastError}` : ''}) → ${push.endpoint}`);
}

/** The create form (id and scopes) or the scopes editor of `server`. */
function serverForm(server, { submit, done }) {
  const id = server ? null : el('input', { name: 'id', required: true, spellcheck: 'false', maxlength: 200, placeholder: 'https://api.example.com' });
  const scopes = el('input', { name: 'scopes', required: true, spellcheck: 'false', value: server?.scopes.join(' ') ?? '' });
  return editorForm({
    title: server ? `Edit ${server.id}` : 'New resource server',
    fields: [
      id ? el('label', {}, 'Id (its URL or audience)', id) : null,
      el('label', {}, 'Scopes', scopes, el('span', { class: 'hint' }, 'separated by spaces')),
    ],
    submitLabel: server ? 'Save' : 'Create resource server',
    body: () => (id ? { id: id.value.trim(), scopes: words(scopes.value) } : { scopes: words(scopes.value) }),
    submit,
    done,
  });
}

export function resourceServersPage() {
  const container = document.getElementById('servers');
  const secrets = new Map(); // id → a secret just made, shown until dismissed
  let servers = [];
  let active = true;

  const editor = editorSlot(document.getElementById('server-editor'), 'New resource server', (server, done) => serverForm(server, {
    async submit(body) {
      if (server) {
        await api('PATCH', path(server.id), body);
        say(`Resource server ${server.id} saved.`);
      } else {
        const created = await api('POST', 'admin/resource-servers', body);
        if (created.client_secret) secrets.set(created.id, created.client_secret);
        say(`Resource server ${created.id} created.`);
      }
      await refresh();
    },
    done,
  }));

  const act = (what, fn) => runAction(what, fn, refresh);

  const rotate = (s) => act('Rotate', async () => {
    const done = await rotateSecret(s.id, (body) => api('POST', `${path(s.id)}/credentials`, body));
    if (!done) return;
    secrets.set(s.id, done.secret);
    say(done.line);
  });

  async function remove(s) {
    if (!(await confirmAction(`Delete ${s.id}? It can no longer introspect or read the feed, and agents lose it as a target.`, 'Delete resource server'))) return;
    return act('Delete', async () => {
      await api('DELETE', path(s.id));
      say(`${s.id} deleted.`);
    });
  }

  function card(s) {
    const manage = can('agents:manage');
    const secret = secrets.get(s.id);
    return el('li', { class: 'card server', 'data-server': s.id },
      el('div', { class: 'row' },
        el('h3', {}, s.id),
        s.push !== undefined ? pushLine(s.push) : null,
        manage ? el('div', { class: 'actions' },
          el('button', { type: 'button', 'data-key': `edit:${s.id}`, onclick: () => editor.open(s) }, 'Edit scopes'),
          el('button', { type: 'button', 'data-key': `rotate:${s.id}`, onclick: () => rotate(s) }, 'Rotate secret'),
          el('button', { type: 'button', class: 'danger', 'data-key': `delete:${s.id}`, onclick: () => remove(s) }, 'Delete')) : null),
      el('p', {}, 'Scopes: ', s.scopes.map((sc) => el('code', { class: 'scope' }, sc))),
      el('p', { class: 'muted credentials' }, `Credentials: ${credentialsLine(s.credentials)}`),
      secret ? secretBox(s.id, secret, () => { secrets.delete(s.id); render(); }) : null);
  }

  function render() {
    if (!active) return;
    replaceKeepingFocus(container, servers.length ? el('ul', { class: 'servers' }, servers.map(card)) : el('p', { class: 'empty' }, 'No resource servers.'));
  }

  async function refresh() {
    try {
      const { resourceServers } = await api('GET', 'admin/resource-servers');
      // side by side; a failing one leaves the list shown, its push health unknown
      await Promise.all(resourceServers.map(async (s) => {
        s.push = await pushStatus(s.id).catch(() => undefined);
      }));
      servers = resourceServers;
    } catch (err) {
      servers = [];
      if (active) say(err instanceof ApiError && err.status === 404 ? 'This server has no live registry: resource servers are managed in its registry file.' : `Resource servers: ${err.message}`, 'error');
    }
    render();
  }

  void refresh();
  return () => {
    active = false;
    editor.clear();
  };
}
