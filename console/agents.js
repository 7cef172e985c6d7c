// Agents: owner, state, credentials' age, the disable/enable switch, secret rotation and each
// agent's access review; creating, editing (a merge patch) and deleting one.
import { api, ApiError, can } from './api.js';
import { agentForm } from './agent-form.js';
import { credentialsLine, rotateSecret, secretBox } from './credentials.js';
import { editorSlot } from './editor.js';
import { act as runAction, confirmAction, el, localTime, plural, replaceKeepingFocus, say } from './dom.js';

const REVIEW_DAYS = 30;

function reviewView(r) {
  const key = (t, s) => `${t}\u0000${s}`;
  const held = new Map(r.held.map((h) => [key(h.target, h.scope), h]));
  const used = new Map(r.usage.map((u) => [key(u.target, u.scope), u]));
  const unused = new Set(r.unused.map((u) => key(u.target, u.scope)));
  const rows = Object.entries(r.entitlements).flatMap(([target, scopes]) => scopes.map((scope) => {
    const h = held.get(key(target, scope));
    const u = used.get(key(target, scope));
    return el('tr', { class: unused.has(key(target, scope)) ? 'unused' : '' },
      el('td', { 'data-label': 'Target' }, target), el('td', { 'data-label': 'Scope' }, scope),
      el('td', { 'data-label': 'Held now' }, h ? `${h.sessions} root, ${h.delegated} delegated` : '—'),
      el('td', { 'data-label': 'Issued' }, u ? `${u.issued}${u.lastIssued ? ` (last ${localTime(u.lastIssued)})` : ''}` : '0'),
      el('td', { 'data-label': 'Status' }, unused.has(key(target, scope)) ? 'unused' : 'used'));
  }));
  return el('div', { class: 'review' },
    el('p', { class: 'muted' }, `Last ${r.window.days} days${r.window.note ? ` (${r.window.note})` : ''}.`),
    el('div', { class: 'scroll' }, el('table', {},
      el('caption', {}, 'Entitlements vs held vs used'),
      el('thead', {}, el('tr', {}, ['Target', 'Scope', 'Held now', 'Issued', 'Status'].map((h) => el('th', { scope: 'col' }, h)))),
      el('tbody', {}, rows))),
    el('p', {}, `Delegates: ${r.delegation.delegates.map((d) => `${d.agent}${d.used ? '' : ' (unused)'}`).join(', ') || 'none'}; acts for: ${
      r.delegation.actsFor.map((d) => `${d.agent}${d.used ? '' : ' (unused)'}`).join(', ') || 'nobody'}.`),
    el('h4', {}, `Findings (${r.findings.length})`),
    r.findings.length
      ? el('ul', { class: 'findings' }, r.findings.map((f) => el('li', { 'data-kind': f.kind }, el('strong', {}, f.kind.replaceAll('_', ' ')), `: ${f.detail}`)))
      : el('p', { class: 'muted' }, 'No findings.'));
}

export function agentsPage() {
  const container = document.getElementById('agents');
  const open = new Map(); // agent id → its review (or an error text) while expanded
  const secrets = new Map(); // agent id → a secret just rotated, shown until dismissed
  let agents = [];
  let active = true; // false once the admin left the page or logged out: late answers are dropped

  function controls(a, expanded) {
    const manage = can('agents:manage');
    return el('div', { class: 'actions' },
      manage ? el('button', {
        type: 'button', role: 'switch', class: 'switch', 'aria-checked': String(!a.disabled), 'data-key': `switch:${a.id}`,
        'aria-label': `${a.id} enabled`, onclick: () => toggle(a),
      }, el('span', { class: 'knob', 'aria-hidden': 'true' }), a.disabled ? 'Disabled' : 'Enabled') : null,
      manage ? el('button', { type: 'button', 'data-key': `rotate:${a.id}`, onclick: () => rotate(a) }, 'Rotate secret') : null,
      manage ? el('button', { type: 'button', 'data-key': `edit:${a.id}`, onclick: () => editor.open(a) }, 'Edit') : null,
      manage ? el('button', { type: 'button', class: 'danger', 'data-key': `delete:${a.id}`, onclick: () => remove(a) }, 'Delete') : null,
      el('button', { type: 'button', 'aria-expanded': String(expanded), 'data-key': `review:${a.id}`, onclick: () => toggleReview(a) }, 'Access review'));
  }

  function card(a) {
    const review = open.get(a.id);
    const secret = secrets.get(a.id);
    return el('li', { class: `card agent${a.disabled ? ' disabled' : ''}`, 'data-agent': a.id },
      el('div', { class: 'row' },
        el('h3', {}, a.id),
        el('span', { class: a.disabled ? 'badge off' : 'badge on' }, a.disabled ? 'disabled' : 'enabled'),
        el('span', { class: 'muted' }, `owner: ${a.owner ?? '— none —'}`),
        controls(a, review !== undefined)),
      a.description ? el('p', {}, a.description) : null,
      el('p', { class: 'muted credentials' }, `Credentials: ${credentialsLine(a.credentials)}`),
      secret ? secretBox(a.id, secret, () => { secrets.delete(a.id); render(); }) : null,
      review === undefined ? null : typeof review === 'string' ? el('p', { class: 'error' }, review) : reviewView(review));
  }

  /** The form for a new agent (null) or for `a`, above the list. */
  const editor = editorSlot(document.getElementById('agent-editor'), 'New agent', (a, done) => agentForm(a, {
    async submit(body) {
      if (!a) {
        const created = await api('POST', 'admin/agents', body);
        if (created.client_secret) secrets.set(created.id, created.client_secret);
        say(`Agent ${created.id} created.`);
      } else if (Object.keys(body).length) {
        const { revoked } = await api('PATCH', `admin/agents/${encodeURIComponent(a.id)}`, body);
        say(`Agent ${a.id} saved${revoked ? `; ${plural(revoked, 'session')} holding a removed entitlement killed` : ''}.`);
      } else {
        say('Nothing changed.');
      }
      await refresh();
    },
    done,
  }));

  async function remove(a) {
    if (!(await confirmAction(`Delete ${a.id}? It can no longer authenticate, every session it holds or acts in is killed, and its entry is removed.`, 'Delete agent'))) return;
    return act('Delete', async () => {
      const { revoked } = await api('DELETE', `admin/agents/${encodeURIComponent(a.id)}`);
      open.delete(a.id);
      say(`${a.id} deleted; ${plural(revoked, 'session')} killed.`);
    });
  }

  function render() {
    if (!active) return;
    if (!can('agents:read')) return container.replaceChildren(el('p', { class: 'empty' }, 'Your admin token lacks agents:read.'));
    replaceKeepingFocus(container, agents.length ? el('ul', { class: 'agents' }, agents.map(card)) : el('p', { class: 'empty' }, 'No agents.'));
  }

  async function loadReview(id) {
    try {
      open.set(id, await api('GET', `admin/agents/${encodeURIComponent(id)}/access?days=${REVIEW_DAYS}`));
    } catch (err) {
      open.set(id, `Access review: ${err.message}`);
    }
  }

  async function refresh() {
    try {
      ({ agents } = await api('GET', 'admin/agents'));
      for (const id of open.keys()) await loadReview(id);
    } catch (err) {
      agents = [];
      if (active) say(err instanceof ApiError && err.status === 404 ? 'This server has no live registry: agents are managed in its registry file.' : `Agents: ${err.message}`, 'error');
    }
    render();
  }

  const act = (what, fn) => runAction(what, fn, refresh);

  async function toggle(a) {
    const path = `admin/agents/${encodeURIComponent(a.id)}`;
    if (a.disabled) return act('Enable', async () => {
      await api('POST', `${path}/enable`);
      say(`${a.id} enabled. Sessions killed earlier stay dead.`);
    });
    if (!(await confirmAction(`Disable ${a.id}? It can no longer authenticate, and every session it holds or acts in is killed.`, 'Disable agent'))) return;
    return act('Disable', async () => {
      const { revoked } = await api('POST', `${path}/disable`);
      say(`${a.id} disabled; ${plural(revoked, 'session')} killed.`);
    });
  }

  const rotate = (a) => act('Rotate', async () => {
    const done = await rotateSecret(a.id, (body) => api('POST', `admin/agents/${encodeURIComponent(a.id)}/credentials`, body));
    if (!done) return;
    secrets.set(a.id, done.secret);
    say(done.line);
  });

  async function toggleReview(a) {
    if (open.has(a.id)) open.delete(a.id);
    else await loadReview(a.id);
    render();
  }

  void refresh();
  return () => {
    active = false;
    editor.clear();
  };
}
