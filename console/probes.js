// API enforcement: each resource server's last enforcement probe (agent-sts probe), its verdict, age and findings.
import { api } from './api.js';
import { age, el, localTime, replaceKeepingFocus, say } from './dom.js';

const VERDICTS = {
  enforcing: 'enforcing',
  kill_blind: 'kill-blind: kills not seen',
  audience_blind: 'audience-blind',
  open: 'open: accepts anything',
  partially_enforcing: 'partially enforcing',
  setup_wrong: 'setup wrong',
};

function row(s) {
  const p = s.lastProbe;
  return el('tr', { 'data-resource-server': s.resourceServer, class: s.findings.length ? 'unused' : '' },
    el('th', { scope: 'row' }, s.resourceServer),
    el('td', { 'data-field': 'verdict' }, p ? VERDICTS[p.verdict] ?? p.verdict : 'never probed'),
    el('td', { 'data-field': 'last' }, p ? localTime(p.recorded) : '—'),
    el('td', { 'data-field': 'age' }, p ? age(p.recorded) : '—'),
    el('td', {}, p && p.killLatencyMs !== null ? `${p.killLatencyMs} ms` : '—'),
    el('td', { 'data-field': 'findings' }, s.findings.length
      ? el('ul', { class: 'findings' }, s.findings.map((f) => el('li', { 'data-kind': f.kind }, el('strong', {}, f.kind.replaceAll('_', ' ')), `: ${f.detail}`)))
      : 'none'));
}

export function probesPage() {
  const container = document.getElementById('probes');
  let active = true;
  (async () => {
    try {
      const { resourceServers } = await api('GET', 'admin/probes');
      if (!active) return;
      replaceKeepingFocus(container, resourceServers.length
        ? el('div', { class: 'scroll' }, el('table', {},
          el('caption', {}, 'Last enforcement probe per resource server (agent-sts probe)'),
          el('thead', {}, el('tr', {}, ['Resource server', 'Verdict', 'Last probe', 'Age', 'Kill latency', 'Findings'].map((h) => el('th', { scope: 'col' }, h)))),
          el('tbody', {}, resourceServers.map(row))))
        : el('p', { class: 'muted' }, 'No resource servers registered.'));
    } catch (err) {
      if (active) say(`API enforcement: ${err.message}`, 'error');
    }
  })();
  return () => {
    active = false;
  };
}
