// The overview: the last hour at a glance (live sessions by agent; issuance, denials by reason and
// kills as small charts), the audit chain's status, the access review's findings, the resource
// servers' push health, and the delegation tree of any session. Everything comes from the admin
// API's own reads; a tile the admin's scopes cannot read is left out. The chain's verification and
// the access review are read once per visit (each reads much); the rest every REFRESH_MS.
import { api, ApiError, can, query } from './api.js';
import { barChart, columnChart, delegationPicture } from './chart.js';
import { el, localTime, plural, say } from './dom.js';
import { poll } from './poll.js';
import { pushLine, pushStatus } from './resource-servers.js';

const REFRESH_MS = 10_000;
const HOUR_MS = 3_600_000;
const BUCKETS = 12; // five minutes each
/** Records read per type and hour: past it the tile says "at least". */
const RECORD_LIMIT = 1_000;
const SESSION_LIMIT = 1_000;
const FINDINGS_SHOWN = 8;
const KILL_TYPES = ['session.revoked', 'agent.sessions_revoked', 'subject.sessions_revoked'];

const rootOf = (sid) => sid.split('.')[0];
const shortTime = (ms) => new Date(ms).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });

/** One type's records since `sinceMs`, at most RECORD_LIMIT; `capped` when there are more. */
async function recordsOf(type, sinceMs) {
  const { events, next } = await api('GET', `admin/audit${query({ type, since: new Date(sinceMs).toISOString(), limit: RECORD_LIMIT })}`);
  return { events, capped: next !== null };
}

/** Counts per five-minute bucket, oldest first; an aggregated denial record counts as its `count`. */
function buckets(events, sinceMs) {
  const counts = new Array(BUCKETS).fill(0);
  const step = HOUR_MS / BUCKETS;
  for (const e of events) {
    const i = Math.min(BUCKETS - 1, Math.max(0, Math.floor((Date.parse(e.time) - sinceMs) / step)));
    counts[i] += e.count ?? 1;
  }
  return counts;
}

const total = (events) => events.reduce((n, e) => n + (e.count ?? 1), 0);

function tile(key, title, value, ...body) {
  return el('section', { class: 'card tile', 'data-tile': key, 'aria-label': title },
    el('h3', {}, title),
    value === null ? null : el('p', { class: 'total' }, el('strong', { 'data-total': key }, value)),
    ...body);
}

function timeTile(key, title, { events, capped }, sinceMs, ...extra) {
  const n = total(events);
  return tile(key, title, `${n}${capped ? '+' : ''}`,
    columnChart(buckets(events, sinceMs), `${title}: ${n} in the last hour, per five minutes`, [shortTime(sinceMs), 'now']),
    ...extra);
}

function verifyLine(v) {
  if (v.ok) return el('p', { class: 'ok', 'data-chain': 'ok' }, el('strong', {}, '✔ Intact'), ` — ${v.checked} records${v.head ? `, head #${v.head.seq}` : ''}`);
  return el('p', { class: 'bad', 'data-chain': 'broken' }, el('strong', {}, '✘ BROKEN'), ` at record #${v.brokenAt}`);
}

export function overviewPage() {
  const container = document.getElementById('overview');
  const form = document.getElementById('delegation-form');
  const picture = document.getElementById('delegation');
  let chain = null; // verified once per visit: it reads the whole trail
  let reviewed = null; // the access review's answer (a promise), read once per visit
  let active = true;
  let suggested = false;

  async function tiles(nowMs) {
    const sinceMs = nowMs - HOUR_MS;
    const out = [];
    if (can('sessions:read')) {
      // latest expiry first, as the Sessions page asks: past the limit, the newest sessions are still in the list
      const { sessions } = await api('GET', `admin/sessions${query({ limit: SESSION_LIMIT, order: 'latest_expiry' })}`);
      const byAgent = new Map();
      for (const s of sessions) byAgent.set(s.agent, (byAgent.get(s.agent) ?? 0) + 1);
      out.push(tile('sessions', 'Live sessions by agent', `${sessions.length}${sessions.length === SESSION_LIMIT ? '+' : ''}`,
        byAgent.size ? barChart([...byAgent].map(([label, value]) => ({ label, value })), 'Live sessions by agent') : el('p', { class: 'empty' }, 'No live sessions.')));
      const newest = sessions.reduce((a, s) => (!a || s.created > a.created ? s : a), null);
      if (newest && !suggested) {
        suggested = true;
        form.elements.namedItem('sid').value ||= rootOf(newest.sid);
      }
    }
    if (can('audit:read')) {
      const [issued, denied, ...kills] = await Promise.all([
        recordsOf('token.issued', sinceMs), recordsOf('token.denied', sinceMs), ...KILL_TYPES.map((t) => recordsOf(t, sinceMs)),
      ]);
      const reasons = new Map();
      for (const e of denied.events) reasons.set(e.reason ?? e.error ?? 'unknown', (reasons.get(e.reason ?? e.error ?? 'unknown') ?? 0) + (e.count ?? 1));
      const killed = { events: kills.flatMap((k) => k.events), capped: kills.some((k) => k.capped) };
      const sessionsKilled = killed.events.reduce((n, e) => n + (e.revoked ?? 0), 0);
      out.push(
        timeTile('issued', 'Tokens issued', issued, sinceMs),
        timeTile('denied', 'Denials', denied, sinceMs,
          reasons.size ? barChart([...reasons].map(([label, value]) => ({ label, value })), 'Denials by reason') : null),
        timeTile('kills', 'Kills', killed, sinceMs, el('p', { class: 'muted' }, `${plural(sessionsKilled, 'session')} killed`)),
        tile('chain', 'Audit chain', null, chain ? verifyLine(chain) : el('p', { class: 'muted' }, 'Verifying…')),
      );
    }
    if (can('agents:read')) out.push(...await registryTiles());
    return out;
  }

  async function registryTiles() {
    // the review reads every agent's sessions and usage: once per visit, like the chain
    reviewed ??= api('GET', 'admin/access-review');
    const { agents } = await reviewed.catch((err) => {
      reviewed = null;
      throw err;
    });
    const findings = agents.flatMap((r) => r.findings.map((f) => ({ ...f, agent: r.agent })));
    const kinds = new Map();
    for (const f of findings) kinds.set(f.kind.replaceAll('_', ' '), (kinds.get(f.kind.replaceAll('_', ' ')) ?? 0) + 1);
    const out = [tile('findings', 'Access review findings', findings.length,
      kinds.size ? barChart([...kinds].map(([label, value]) => ({ label, value })), 'Findings by kind') : el('p', { class: 'muted' }, 'No findings.'),
      findings.length ? el('ul', { class: 'findings' }, findings.slice(0, FINDINGS_SHOWN).map((f) => el('li', {}, el('strong', {}, f.agent), `: ${f.detail}`))) : null,
      findings.length > FINDINGS_SHOWN ? el('p', { class: 'muted' }, `and ${findings.length - FINDINGS_SHOWN} more on the Agents page.`) : null)];
    try {
      const { resourceServers } = await api('GET', 'admin/resource-servers');
      const pushes = await Promise.all(resourceServers.map((s) => pushStatus(s.id))); // side by side, not one after another
      const lines = resourceServers.map((s, i) => el('li', { 'data-server': s.id }, el('code', {}, s.id), ' ', pushLine(pushes[i])));
      out.push(tile('push', 'Resource servers', resourceServers.length, lines.length ? el('ul', { class: 'push' }, lines) : null));
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) throw err; // no live registry: nothing to show
    }
    return out;
  }

  async function refresh() {
    try {
      const content = await tiles(Date.now());
      if (active) container.replaceChildren(el('div', { class: 'tiles' }, content));
    } catch (err) {
      if (active) say(`Overview: ${err.message}`, 'error');
    }
  }

  async function verify() {
    try {
      chain = await api('GET', 'admin/audit/verify');
    } catch (err) {
      chain = { ok: false, brokenAt: `? (${err.message})` };
    }
    const box = container.querySelector('[data-tile="chain"]');
    if (active && box) box.replaceChildren(el('h3', {}, 'Audit chain'), verifyLine(chain));
  }

  async function draw(e) {
    e?.preventDefault();
    const sid = String(new FormData(form).get('sid') ?? '').trim();
    if (!sid) return;
    try {
      const tree = await api('GET', `admin/sessions/${encodeURIComponent(rootOf(sid))}`);
      if (!active) return;
      const pic = delegationPicture(tree);
      pic.querySelector(`[data-sid="${CSS.escape(sid)}"]`)?.classList.add('asked');
      picture.replaceChildren(el('div', { class: 'scroll' }, pic),
        el('p', { class: 'muted' }, `Root ${tree.sid} of ${tree.agent}, issued ${localTime(tree.created)}. Each box acts for the one on its left.`));
    } catch (err) {
      if (active) picture.replaceChildren(el('p', { class: 'empty' }, err instanceof ApiError && err.status === 404 ? `No live session ${sid}.` : `Delegation tree: ${err.message}`));
    }
  }

  form.closest('section').hidden = !can('sessions:read');
  form.addEventListener('submit', draw);
  if (can('audit:read')) void verify();
  const stop = poll(refresh, REFRESH_MS);
  return () => {
    active = false;
    stop();
    form.removeEventListener('submit', draw);
    picture.replaceChildren();
  };
}
