// The printed table and bench/RESULTS.md (newest run on top, earlier runs kept below).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { redisVersion } from './redis.mjs';

const MARKER = '<!-- runs: newest first; bench/run.mjs inserts each new run below this line -->';

const HEADER = `# agent-sts benchmark results

Produced by \`npm run bench\` (build, then \`node bench/run.mjs\`); see bench/README.md for what each
scenario measures and the caveats. Every figure in one section comes from the same run on the same
machine: agent-sts, oidc-provider and the floor each get the same load, one after the other (runs
since 2026-12-01: in interleaved rounds, median round shown).

Reproduce: \`npm run bench\`. Knobs (environment): \`BENCH_DURATION_S\` (default 10) and
\`BENCH_CONNECTIONS\` (default 50) per load scenario, \`BENCH_WARMUP_S\` (1), \`BENCH_ROUNDS\` (3), \`BENCH_KILL_REPEATS\` (3),
\`BENCH_MEMORY_N\` (2000), \`BENCH_WORKERS\` (\`1,2\`), \`BENCH_SOAK_S\` (0 = no soak), \`BENCH_ONLY\`
(comma-separated groups), \`BENCH_LABEL\` (free text in the heading), \`BENCH_RESULTS=0\` (do not write
this file).

${MARKER}
`;

function git(args) {
  try {
    return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

export function machineFacts() {
  const cpus = os.cpus();
  const rev = git(['rev-parse', '--short', 'HEAD']);
  const dirty = git(['status', '--porcelain', '--', 'src']) ? ' (src/ has uncommitted changes)' : '';
  return {
    date: new Date().toISOString(),
    cpu: `${cpus.length} × ${cpus[0]?.model?.trim() ?? 'unknown'}`,
    memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    redis: redisVersion(),
    commit: rev ? `${rev}${dirty}` : 'unknown',
    loadavg: os.loadavg().map((l) => l.toFixed(2)).join(' '),
  };
}

const cell = (v) => (v === undefined || v === null ? '' : String(v).replaceAll('|', '\\|'));

export function markdownTable(rows, columns = rows.length ? Object.keys(rows[0]) : []) {
  if (!rows.length) return '_(none)_\n';
  const lines = [`| ${columns.join(' | ')} |`, `|${columns.map(() => '---').join('|')}|`];
  for (const r of rows) lines.push(`| ${columns.map((c) => cell(r[c])).join(' | ')} |`);
  return `${lines.join('\n')}\n`;
}

export function plainTable(rows, columns = rows.length ? Object.keys(rows[0]) : []) {
  if (!rows.length) return '(none)\n';
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals) => vals.map((v, i) => (typeof v === 'number' ? v.toString().padStart(widths[i]) : cell(v).padEnd(widths[i]))).join('  ');
  return `${[line(columns), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map((r) => line(columns.map((c) => r[c])))].join('\n')}\n`;
}

/** Sections: [{ title, rows, columns?, note? }]. */
export function renderMarkdown({ facts, knobs, label, sections }) {
  const heading = `## ${facts.date}${label ? ` — ${label}` : ''}`;
  const factLines = [
    `- machine: ${facts.cpu}, ${facts.memory} RAM, ${facts.os}; load average at start ${facts.loadavg}`,
    `- software: node ${facts.node}, ${facts.redis}; agent-sts commit ${facts.commit}`,
    `- knobs: ${Object.entries(knobs).map(([k, v]) => `${k}=${v}`).join(' ')}`,
  ];
  const body = sections.map((s) => `### ${s.title}\n\n${markdownTable(s.rows, s.columns)}${s.note ? `\n${s.note}\n` : ''}`);
  return `${heading}\n\n${factLines.join('\n')}\n\n${body.join('\n')}`;
}

export function renderPlain({ facts, knobs, label, sections }) {
  const out = [`agent-sts bench ${facts.date}${label ? ` (${label})` : ''}: ${facts.cpu}, node ${facts.node}, ${facts.redis.split(' sha=')[0]}`,
    `knobs: ${Object.entries(knobs).map(([k, v]) => `${k}=${v}`).join(' ')}`, ''];
  for (const s of sections) out.push(`== ${s.title}`, plainTable(s.rows, s.columns), ...(s.note ? [s.note, ''] : []));
  return out.join('\n');
}

/** Inserts `section` below the header of RESULTS.md (created with the header when missing). */
export function prependResults(file, section) {
  let text = existsSync(file) ? readFileSync(file, 'utf8') : HEADER;
  if (!text.includes(MARKER)) text = `${HEADER}\n${text}`;
  const at = text.indexOf(MARKER) + MARKER.length;
  writeFileSync(file, `${text.slice(0, at)}\n\n${section.trimEnd()}\n${text.slice(at).replace(/^\n*/, '\n')}`);
}
