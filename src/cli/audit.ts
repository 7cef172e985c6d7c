import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import type { CheckpointStatus, VerifyResult } from '../audit/verify.js';
import type { AdminClient, Query } from './admin-client.js';
import { adminAction, positiveInt, type AdminRun } from './command-kit.js';
import { CliFailure, EXIT, usageError, type CliIo } from './io.js';
import { withProgress } from './progress.js';
import { printable } from './table.js';

/** `audit tail -f` asks for new records this often. */
const POLL_INTERVAL_MS = 1_000;
const DEFAULT_LINES = 20;
/** Records asked for per page while catching up. */
const FOLLOW_PAGE = 500;
/**
 * A poll reads back to the newest printed record's time less this: `since` is compared with the
 * store's clock, a record's `time` with its instance's, and seq (never time) decides what is new.
 */
const SINCE_SLACK_MS = 10_000;
/** A checkpoint given inline: a compact JWS (else it is a file saved from `audit checkpoint`). */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

interface AuditEvent {
  seq: number;
  time: string;
  type: string;
  hash: string;
  prev: string;
  [field: string]: unknown;
}
interface AuditPage {
  events: AuditEvent[];
  next: string | null;
}
interface TailOptions {
  follow?: boolean;
  lines: number;
  agent?: string;
  sub?: string;
  sid?: string;
  type?: string;
}

/** Shown first (seq, time, type) or not at all (the chain links): the rest follows as field=value. */
const LEADING_OR_CHAIN = new Set(['seq', 'time', 'type', 'hash', 'prev']);

/** `seq  time  type  field=value …`. */
function eventLine(e: AuditEvent): string {
  const detail = Object.entries(e).filter(([k]) => !LEADING_OR_CHAIN.has(k))
    .map(([k, v]) => `${printable(k)}=${printable(typeof v === 'string' ? v : JSON.stringify(v))}`);
  return [String(e.seq), printable(e.time), printable(e.type), ...detail].join('  ');
}

/** Records newer than `lastSeq` matching the filter, newest first, reading pages back until one is seen. */
async function newerThan(client: AdminClient, filter: Query, lastSeq: number, sinceMs: number | undefined): Promise<AuditEvent[]> {
  const since = sinceMs === undefined ? undefined : new Date(sinceMs - SINCE_SLACK_MS).toISOString();
  const out: AuditEvent[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await client.get<AuditPage>('/admin/audit', { ...filter, since, limit: FOLLOW_PAGE, cursor });
    for (const e of page.events) {
      if (e.seq <= lastSeq) return out;
      out.push(e);
    }
    if (!page.next) return out;
    cursor = page.next;
  }
}

async function tail(run: AdminRun, opts: TailOptions): Promise<void> {
  const filter: Query = { agent: opts.agent, sub: opts.sub, sid: opts.sid, type: opts.type };
  const show = (newestFirst: AuditEvent[]) => {
    for (const e of [...newestFirst].reverse()) run.print(`${run.json ? JSON.stringify(e) : eventLine(e)}\n`);
  };
  const first = await run.client.get<AuditPage>('/admin/audit', { ...filter, limit: opts.lines });
  show(first.events);
  if (!opts.follow) return;
  // Where to follow from: the newest match, or the newest record of all when nothing matched yet.
  const newest = first.events[0] ?? (await run.client.get<AuditPage>('/admin/audit', { limit: 1 })).events[0];
  let lastSeq = newest?.seq ?? 0;
  let sinceMs = newest ? Date.parse(newest.time) : undefined;
  const signal = run.io.signal;
  try {
    while (!signal?.aborted) {
      await sleep(POLL_INTERVAL_MS, undefined, signal ? { signal } : {});
      const fresh = await newerThan(run.client, filter, lastSeq, sinceMs);
      show(fresh);
      if (fresh[0]) {
        lastSeq = fresh[0].seq;
        sinceMs = Date.parse(fresh[0].time);
      }
    }
  } catch (err) {
    if (!signal?.aborted) throw err;
  }
}

/** The checkpoint JWS given inline, or read from a file saved from `audit checkpoint` (its "checkpoint" field). */
async function checkpointOf(io: CliIo, given: string): Promise<string> {
  if (COMPACT_JWS.test(given)) return given;
  let saved: unknown;
  try {
    saved = JSON.parse(await readFile(path.resolve(io.cwd, given), 'utf8'));
  } catch (err) {
    throw usageError(`--checkpoint takes a checkpoint JWS or a file saved from 'audit checkpoint': ${(err as Error).message}`);
  }
  const jws = (saved as { checkpoint?: unknown } | null)?.checkpoint;
  if (typeof jws !== 'string') throw usageError(`${given} has no "checkpoint" field`);
  return jws;
}

const CHECKPOINT_WORDS: Readonly<Record<CheckpointStatus, string>> = {
  matched: 'matched', mismatch: 'mismatch (the trail holds another record at that seq)', trimmed: 'trimmed (older than the kept records)',
  missing: 'missing (beyond the trail\'s head: the tail was cut)', unchecked: 'not reached (the trail is broken before it)',
};

function verifyReport(v: VerifyResult): string {
  const range = v.from ? `seq ${v.from.seq} to ${v.head.seq}` : 'an empty trail';
  const lines = [v.ok ? `the trail verifies: ${v.checked} records checked, ${range}` : `the trail is broken at seq ${v.brokenAt}: ${v.checked} records checked before it`];
  lines.push(`head: seq ${v.head.seq} hash ${printable(v.head.hash)}`);
  if (v.checkpoint) lines.push(`checkpoint: seq ${v.checkpoint.seq} ${CHECKPOINT_WORDS[v.checkpoint.status]}`);
  return `${lines.join('\n')}\n`;
}

/** `audit tail [-f]`, `audit verify`, `audit checkpoint`: the tamper-evident trail. */
export function register(program: Command, io: CliIo): void {
  const audit = program.command('audit').description('the audit trail: read, follow, verify');

  audit.command('tail').description('the newest records, oldest first; -f keeps printing new ones until interrupted')
    .option('-f, --follow', `keep polling (every ${POLL_INTERVAL_MS / 1_000} s) for new records`)
    .option('-n, --lines <n>', `how many records first (1-1000)`, positiveInt('--lines'), DEFAULT_LINES)
    .option('--agent <id>', 'records where the agent holds or acts')
    .option('--sub <sub>', 'records of this subject')
    .option('--sid <sid>', 'records of this session, its children and kills that removed it')
    .option('--type <type>', 'one event type, e.g. token.issued')
    .action(adminAction(io, ['audit:read'], tail));

  audit.command('verify').description('walk the hash chain; exit 2 if it is broken')
    .option('--checkpoint <jws|file>', 'a checkpoint kept earlier: the trail must still contain it')
    .action(adminAction(io, ['audit:read'], async (run, opts: { checkpoint?: string }) => {
      const query = opts.checkpoint === undefined ? {} : { checkpoint: await checkpointOf(run.io, opts.checkpoint) };
      const v = await withProgress(run, 'verifying the audit trail', run.client.get<VerifyResult>('/admin/audit/verify', query));
      if (run.json) run.printJson(v);
      else run.print(verifyReport(v));
      if (!v.ok) throw new CliFailure(EXIT.server, `the audit trail is broken at seq ${v.brokenAt}`);
    }));

  audit.command('checkpoint').description('the latest signed checkpoint, as JSON: keep it outside agent-sts')
    .action(adminAction(io, ['audit:read'], async (run) => {
      run.printJson(await run.client.get<unknown>('/admin/audit/checkpoint'));
    }));
}
