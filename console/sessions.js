// Sessions: the live trees, newest first, grouped by the agent holding each tree's root, a kill
// button on every node; a search by agent, user or session id.
import { api, ApiError, can, query } from './api.js';
import { confirmAction, el, localTime, plural, replaceKeepingFocus, say } from './dom.js';
import { poll } from './poll.js';

/** Session lists read at most this many; the trees shown are capped too (each one is a request per refresh). */
const LIST_LIMIT = 1000;
const MAX_TREES = 25;

const rootOf = (sid) => sid.split('.')[0];
const count = (node) => node.children.reduce((n, c) => n + 1 + count(c), 0);
const holds = (node, sid) => node.sid === sid || node.children.some((c) => holds(c, sid));
const actors = (act) => (act ? [act.sub, ...actors(act.act)] : []);

function nodeView(node, matched, onKill) {
  const below = count(node);
  const chain = actors(node.act);
  return el('li', { class: matched.has(node.sid) ? 'node match' : 'node', 'data-sid': node.sid },
    el('div', { class: 'row' },
      el('code', { class: 'sid' }, node.sid),
      el('span', { class: 'agent' }, node.agent),
      node.sub !== node.agent ? el('span', { class: 'tag' }, `for ${node.sub}`) : null,
      chain.length > 1 ? el('span', { class: 'tag' }, `via ${chain.join(' ← ')}`) : null,
      el('span', { class: 'scope' }, node.scope),
      el('span', { class: 'muted' }, `${node.aud} · until ${localTime(node.expires)}`),
      can('sessions:kill') ? el('button', {
        type: 'button', class: 'danger small', 'data-key': `kill:${node.sid}`,
        'aria-label': `Kill session ${node.sid} of ${node.agent}${below ? ` and its ${plural(below, 'descendant')}` : ''}`,
        onclick: () => onKill(node, below),
      }, 'Kill') : null),
    node.children.length ? el('ul', {}, node.children.map((c) => nodeView(c, matched, onKill))) : null);
}

/** The page: a search form, and the trees refreshed while visible. Returns a stop function. */
export function sessionsPage() {
  const container = document.getElementById('trees');
  const form = document.getElementById('session-search');
  let filter = { agent: '', sub: '', sid: '' };
  let shown = '';
  let latest = 0; // refreshes overlap (the poll, a kill, a search): only the latest one started may render
  let active = true; // false once the admin left the page or logged out: late answers are dropped

  /** The tree holding one session id, read straight from the server (GET /admin/sessions/:root). */
  async function loadSid(sid) {
    try {
      const tree = await api('GET', `admin/sessions/${encodeURIComponent(rootOf(sid))}`);
      return { matched: new Set([sid]), trees: holds(tree, sid) ? [tree] : [], more: 0 };
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return { matched: new Set([sid]), trees: [], more: 0 };
      throw err;
    }
  }

  async function load() {
    if (filter.sid) return loadSid(filter.sid);
    // Latest-expiring first: past LIST_LIMIT live sessions, the ones left out are the oldest ones.
    const { sessions } = await api('GET', `admin/sessions${query({ agent: filter.agent, sub: filter.sub, limit: LIST_LIMIT, order: 'latest_expiry' })}`);
    // The tree an incident responder wants is the newest one: trees by their newest session.
    const newest = new Map();
    for (const s of sessions) {
      const root = rootOf(s.sid);
      if (!newest.has(root) || newest.get(root) < s.created) newest.set(root, s.created);
    }
    const roots = [...newest.keys()].sort((a, b) => (newest.get(a) < newest.get(b) ? 1 : newest.get(a) > newest.get(b) ? -1 : 0));
    const trees = [];
    for (const root of roots.slice(0, MAX_TREES)) {
      try {
        trees.push(await api('GET', `admin/sessions/${encodeURIComponent(root)}`));
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 404)) throw err; // killed or expired meanwhile
      }
    }
    return { matched: new Set(filter.agent || filter.sub ? sessions.map((s) => s.sid) : []), trees, more: roots.length - trees.length };
  }

  async function kill(node, below) {
    const ok = await confirmAction(
      `Kill session ${node.sid} of ${node.agent}${below ? ` and the ${plural(below, 'session')} delegated from it` : ''}? Their tokens stop working at once.`,
      'Kill session');
    if (!ok) return;
    try {
      const { revoked } = await api('DELETE', `admin/sessions/${encodeURIComponent(node.sid)}`);
      say(`Killed ${plural(revoked, 'session')} under ${node.sid}.`);
      await refresh();
    } catch (err) {
      say(`Kill failed: ${err.message}`, 'error');
    }
  }

  function render({ trees, matched, more }) {
    if (!trees.length) return [el('p', { class: 'empty' }, filter.agent || filter.sub || filter.sid ? 'No live session matches.' : 'No live sessions.')];
    const byAgent = new Map();
    for (const t of trees) byAgent.set(t.agent, [...(byAgent.get(t.agent) ?? []), t]);
    return [
      ...[...byAgent].map(([agent, ts]) => el('section', { class: 'card agent-trees', 'aria-label': `Sessions of ${agent}` },
        el('h3', {}, agent, el('span', { class: 'muted' }, ` · ${plural(ts.length, 'tree')}`)),
        el('ul', { class: 'tree' }, ts.map((t) => nodeView(t, matched, kill))))),
      more > 0 ? el('p', { class: 'muted' }, `${more} more trees not shown: narrow the search.`) : null,
    ].filter(Boolean);
  }

  async function refresh() {
    if (!can('sessions:read')) {
      container.replaceChildren(el('p', { class: 'empty' }, 'Your admin token lacks sessions:read.'));
      return;
    }
    const mine = ++latest;
    try {
      const data = await load();
      if (mine !== latest || !active) return;
      const json = JSON.stringify(data, (_k, v) => (v instanceof Set ? [...v] : v));
      if (json !== shown) replaceKeepingFocus(container, ...render(data));
      shown = json;
    } catch (err) {
      if (active) say(`Sessions: ${err.message}`, 'error');
    }
  }

  const onSearch = (e) => {
    e.preventDefault();
    const data = new FormData(form);
    const text = (name) => String(data.get(name) ?? '').trim();
    filter = { agent: text('agent'), sub: text('sub'), sid: text('sid') };
    void refresh();
  };
  form.addEventListener('submit', onSearch);
  const stop = poll(refresh);
  return () => {
    active = false;
    stop();
    form.removeEventListener('submit', onSearch);
  };
}
