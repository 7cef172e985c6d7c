// The audit trail: filters, a live tail of new records, older pages, and the hash chain's verify status.
import { api, can, query } from './api.js';
import { el, localTime, say } from './dom.js';
import { poll } from './poll.js';

const PAGE = 50;
const SHOWN_FIELDS = ['seq', 'time', 'type', 'actor', 'hash', 'prev', 'requestId'];

/** datetime-local (the admin's local time) → ISO 8601 with a zone, as the API wants it. */
const isoOf = (local) => (local ? new Date(local).toISOString() : '');

function detail(record) {
  return Object.entries(record)
    .filter(([k]) => !SHOWN_FIELDS.includes(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join('  ');
}

const recordView = (r) => el('li', { class: `record t-${r.type.replace('.', '-')}`, 'data-seq': r.seq, 'data-type': r.type },
  el('div', { class: 'row' },
    el('span', { class: 'seq' }, `#${r.seq}`),
    el('time', { datetime: r.time }, localTime(r.time)),
    el('strong', { class: 'type' }, r.type),
    r.actor ? el('span', {}, `by ${r.actor}`) : null),
  el('p', { class: 'detail' }, detail(r)),
  el('p', { class: 'hash muted' }, `hash ${r.hash}`));

function verifyView(v) {
  if (v.ok) {
    return el('p', { class: 'ok' }, el('strong', {}, '✔ Chain intact'),
      ` — ${v.checked} records checked${v.head ? `, head #${v.head.seq}` : ''}${v.from?.seq > 1 ? `, from #${v.from.seq} (older ones trimmed by retention)` : ''}.`);
  }
  return el('p', { class: 'bad' }, el('strong', {}, '✘ Chain BROKEN'), ` at record #${v.brokenAt}: a record was edited, removed or the tail was cut. ${v.checked} checked.`);
}

export function auditPage() {
  const list = document.getElementById('audit-list');
  const older = document.getElementById('audit-older');
  const form = document.getElementById('audit-filters');
  const verifyBox = document.getElementById('verify');
  let filter = {};
  let tail = true;
  let newest = 0;
  let next = null;
  let view = 0; // bumped by each reload: a tail read started under older filters is dropped
  let left = false; // the admin left the page or logged out: late answers are dropped
  let refused = false; // the server refused the filters: no tail until they change

  async function verify() {
    verifyBox.replaceChildren(el('p', { class: 'muted' }, 'Verifying the chain…'));
    try {
      const status = await api('GET', 'admin/audit/verify');
      if (left) return;
      verifyBox.replaceChildren(verifyView(status),
        el('button', { type: 'button', onclick: () => void verify() }, 'Verify again'));
    } catch (err) {
      if (!left) verifyBox.replaceChildren(el('p', { class: 'bad' }, `Could not verify: ${err.message}`));
    }
  }

  async function page(cursor) {
    return api('GET', `admin/audit${query({ ...filter, limit: PAGE, cursor })}`);
  }

  async function reload() {
    const mine = ++view;
    if (refused) say('');
    refused = false;
    for (const input of form.querySelectorAll('[aria-invalid]')) input.removeAttribute('aria-invalid');
    try {
      const res = await page();
      if (mine !== view || left) return;
      list.replaceChildren(...res.events.map(recordView));
      newest = res.events[0]?.seq ?? 0;
      next = res.next;
      older.hidden = !next;
      if (!res.events.length) list.replaceChildren(el('li', { class: 'empty' }, 'No records match.'));
    } catch (err) {
      if (mine !== view || left) return;
      // nothing listed stays under a filter it does not match: the old results go, the bad field is named
      refused = true;
      list.replaceChildren(el('li', { class: 'empty error' }, `No records: ${err.message}`));
      newest = 0;
      next = null;
      older.hidden = true;
      const field = /query parameter '([a-z]+)'/.exec(err.message)?.[1];
      const input = field ? form.elements.namedItem(field) : null;
      if (input) {
        input.setAttribute('aria-invalid', 'true');
        input.focus();
      }
      say(`Audit: ${err.message}`, 'error');
    }
  }

  async function tailOnce() {
    if (!tail || refused) return;
    const mine = view;
    try {
      const res = await page();
      if (mine !== view || left) return;
      const fresh = res.events.filter((r) => r.seq > newest);
      if (!fresh.length) return;
      if (newest === 0) list.replaceChildren();
      list.prepend(...fresh.map(recordView));
      newest = fresh[0].seq;
    } catch (err) {
      if (!left) say(`Audit: ${err.message}`, 'error');
    }
  }

  const onOlder = async () => {
    try {
      const res = await page(next);
      if (left) return;
      list.append(...res.events.map(recordView));
      next = res.next;
      older.hidden = !next;
    } catch (err) {
      if (!left) say(`Audit: ${err.message}`, 'error');
    }
  };

  const onFilter = (e) => {
    e.preventDefault();
    const d = new FormData(form);
    const text = (name) => String(d.get(name) ?? '').trim();
    filter = { agent: text('agent'), sub: text('sub'), sid: text('sid'), type: text('type'), since: isoOf(text('since')), until: isoOf(text('until')) };
    tail = d.get('tail') === 'on';
    void reload();
  };

  if (!can('audit:read')) {
    verifyBox.replaceChildren();
    list.replaceChildren(el('li', { class: 'empty' }, 'Your admin token lacks audit:read.'));
    return () => {};
  }
  form.addEventListener('submit', onFilter);
  older.addEventListener('click', onOlder);
  void verify();
  let stop = () => {};
  void reload().then(() => {
    if (!left) stop = poll(tailOnce);
  });
  return () => {
    left = true;
    stop();
    form.removeEventListener('submit', onFilter);
    older.removeEventListener('click', onOlder);
  };
}
