// Agents: owner, state, credentials' age, the disable/enable switch, secret rotation and each agent's access review.
import { api, ApiError, can } from './api.js';
import { age, confirmAction, el, localTime, plural, replaceKeepingFocus, say } from './dom.js';

const REVIEW_DAYS = 30;
const OVERLAPS = [[0, 'none: the previous secret stops working now'], [3_600, '1 hour'], [86_400, '1 day'], [604_800, '7 days']];

function credentialsLine(credentials) {
  if (!credentials.length) return 'no credentials';
  return credentials.map((c) => `${c.type}${c.id === c.type ? '' : ` ${c.id}`}, ${age(c.created)} old${c.expires ? `, valid until ${localTime(c.expires)}` : ''}`).join(' · ');
}

function reviewView(r) {
  const key = (t, s) => `${t}\u0000${s}`;
  const held = new Map(r.held.map((h) => [key(h.target, h.scope), h]));
  const used = new Map(r.usage.map((u) => [key(u.target, u.scope), u]));
  const unused = new Set(r.unused.map((u) => key(u.target, u.scope)));
  const rows = Object.entries(r.entitlements).flatMap(([target, scopes]) => scopes.map((scope) => {
    const h = held.get(key(target, scope));
    const u = used.get(key(target, scope));
    return el('tr', { class: unused.has(key(target, scope)) ? 'unused' : '' },
      el('td', {}, target), el('td', {}, scope),
      el('td', {}, h ? `${h.sessions} root, ${h.delegated} delegated` : '—'),
      el('td', {}, u ? `${u.issued}${u.lastIssued ? ` (last ${localTime(u.lastIssued)})` : ''}` : '0'),
      el('td', {}, unused.has(key(target, scope)) ? 'unused' : 'used'));
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
      secret ? el('div', { class: 'secret', role: 'alert' },
        el('p', {}, `New secret for ${a.id}: shown once, store it now.`), el('code', {}, secret),
        el('button', { type: 'button', onclick: () => { secrets.delete(a.id); render(); } }, 'Done')) : null,
      review === undefined ? null : typeof review === 'string' ? el('p', { class: 'error' }, review) : reviewView(review));
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

  async function act(what, fn) {
    try {
      await fn();
    } catch (err) {
      say(`${what} failed: ${err.message}`, 'error');
    }
    await refresh();
  }

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

  async function rotate(a) {
    const select = el('select', { id: 'overlap' }, OVERLAPS.map(([s, label]) => el('option', { value: s }, label)));
    const extra = el('label', {}, 'Previous secret keeps working for ', select);
    if (!(await confirmAction(`Rotate the secret of ${a.id}? A new secret is generated and shown once.`, 'Rotate secret', extra))) return;
    return act('Rotate', async () => {
      const answer = await api('POST', `admin/agents/${encodeURIComponent(a.id)}/credentials`, { type: 'secret', overlapSeconds: Number(select.value) });
      secrets.set(a.id, answer.client_secret);
      const overlap = Number(select.value) > 0 && answer.previousValidUntil;
      say(`Secret of ${a.id} rotated; ${overlap ? `the previous one works until ${localTime(answer.previousValidUntil)}` : 'the previous one no longer works'}.`);
    });
  }

  async function toggleReview(a) {
    if (open.has(a.id)) open.delete(a.id);
    else await loadReview(a.id);
    render();
  }

  void refresh();
  return () => {
    active = false;
  };
}
