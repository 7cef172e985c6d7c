import type { Request, Router } from 'express';
import { CheckpointError, verifyCheckpoint, type Checkpoint, type Checkpoints } from '../audit/checkpoint.js';
import { verifyTrail } from '../audit/verify.js';
import { OAuthError } from '../errors.js';
import type { KeyStore } from '../keys/keystore.js';
import type { SessionService } from '../sessions/service.js';
import { RECORD_ID, type AuditLog, type AuditRecord } from '../store/audit.js';
import { integerParam, only, privateRouter, queryString, requireScope } from './http-kit.js';

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1_000;
/** Records read per step while looking for matches. */
const READ_PAGE = 500;
/** At most this many records are examined per call; the cursor continues a longer search. */
const SCAN_BUDGET = 20_000;
/** ISO 8601 date-time with an explicit zone, as the records' `time` is written. */
const ISO_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/;
/** Record positions are milliseconds since 1970 (Redis stream ids are unsigned): nothing is older. */
const EPOCH = '1970-01-01T00:00:00Z';
/** 0-0 is no record's position (the smallest is 0-1), and nothing precedes it: Redis refuses it as an exclusive end. */
const BEFORE_EVERY_RECORD = /^0+-0+$/;
const EVENT_TYPE = /^[a-z_]{1,40}\.[a-z_]{1,40}$/;
/** A compact JWS of this service: three base64url parts, bounded. */
const COMPACT_JWS = /^[A-Za-z0-9_-]{1,2000}\.[A-Za-z0-9_-]{1,2000}\.[A-Za-z0-9_-]{1,2000}$/;

const bad = (name: string, why: string) => new OAuthError(400, 'invalid_request', `query parameter '${name}' ${why}`);

function timeParam(req: Request, name: string): number | undefined {
  const v = queryString(req, name);
  if (v === undefined) return undefined;
  const parts = ISO_TIME.exec(v);
  const ms = parts ? Date.parse(v) : NaN;
  if (!Number.isFinite(ms)) throw bad(name, 'must be an ISO 8601 date-time with a zone, e.g. 2026-01-31T12:00:00Z');
  if (!realDate(parts!)) throw bad(name, 'names no such date or hour');
  if (ms < 0) throw bad(name, `must not be before ${EPOCH}`);
  return ms;
}

/** Date.parse takes 2026-02-31 for March 3rd and 24:00 for the next day: a filter means the date it names. */
function realDate([, y, m, d, h]: RegExpExecArray): boolean {
  const date = new Date(0);
  date.setUTCFullYear(Number(y), Number(m) - 1, Number(d)); // not Date.UTC, which reads years 0-99 as 1900-1999
  return Number(h) < 24 && date.getUTCDate() === Number(d) && date.getUTCMonth() === Number(m) - 1;
}

type Body = Record<string, unknown> & { type?: string; agent?: string; actor?: string; clientId?: string; sub?: string; sid?: string; parent?: string; sessions?: { sid: string }[] };

interface Filter {
  agent?: string;
  sub?: string;
  sid?: string;
  type?: string;
}

function matches(b: Body, f: Filter): boolean {
  if (f.type !== undefined && b.type !== f.type) return false;
  if (f.agent !== undefined && b.agent !== f.agent && b.actor !== f.agent && b.clientId !== f.agent) return false;
  if (f.sub !== undefined && b.sub !== f.sub) return false;
  if (f.sid !== undefined && b.sid !== f.sid && b.parent !== f.sid && !(b.sessions ?? []).some((s) => s.sid === f.sid)) return false;
  return true;
}

const view = (r: AuditRecord, b: Body) => ({ ...b, seq: r.seq, hash: r.hash, prev: r.prev });

/** GET /admin/audit, /admin/audit/verify, /admin/audit/checkpoint: scope audit:read. */
export function auditRouter(sessions: SessionService, trail: AuditLog, checkpoints: Checkpoints, keys: KeyStore): Router {
  const r = privateRouter();
  const read = requireScope(sessions, 'audit:read');

  r.route('/')
    .get(read, async (req, res) => {
      const filter: Filter = {};
      for (const name of ['agent', 'sub', 'sid'] as const) {
        const v = queryString(req, name);
        if (v !== undefined) filter[name] = v;
      }
      const type = queryString(req, 'type');
      if (type !== undefined && !EVENT_TYPE.test(type)) throw bad('type', 'must be an event type such as token.issued');
      if (type !== undefined) filter.type = type;
      const sinceMs = timeParam(req, 'since');
      const untilMs = timeParam(req, 'until');
      if (sinceMs !== undefined && untilMs !== undefined && sinceMs > untilMs) throw bad('since', 'must not be after until');
      const limit = integerParam(req, 'limit', { min: 1, max: MAX_LIMIT, fallback: DEFAULT_LIMIT });
      const cursor = queryString(req, 'cursor');
      if (cursor !== undefined && (!RECORD_ID.test(cursor) || BEFORE_EVERY_RECORD.test(cursor))) throw bad('cursor', 'must be a cursor this endpoint returned');

      const events: ReturnType<typeof view>[] = [];
      let from = cursor;
      let examined = 0;
      let more = true;
      while (events.length < limit && examined < SCAN_BUDGET) {
        const page = await trail.backward({ ...(from ? { from } : {}), ...(sinceMs !== undefined ? { sinceMs } : {}), ...(untilMs !== undefined ? { untilMs } : {}), count: READ_PAGE });
        for (const rec of page) {
          examined++;
          from = rec.id;
          const b = JSON.parse(rec.body) as Body;
          if (matches(b, filter)) events.push(view(rec, b));
          if (events.length === limit) break;
        }
        if (page.length < READ_PAGE && events.length < limit) {
          more = false;
          break;
        }
      }
      res.json({ events, next: more ? from ?? null : null });
    })
    .all(only('GET, HEAD'));

  r.route('/verify')
    .get(read, async (req, res) => {
      const jws = queryString(req, 'checkpoint');
      let checkpoint: Checkpoint | undefined;
      if (jws !== undefined) {
        if (!COMPACT_JWS.test(jws)) throw bad('checkpoint', 'must be a checkpoint JWS from /admin/audit/checkpoint');
        try {
          checkpoint = await verifyCheckpoint(jws, keys.jwks(), sessions.issuer);
        } catch (err) {
          if (err instanceof CheckpointError) throw bad('checkpoint', `is not valid: ${err.message}`);
          throw err;
        }
      }
      res.json(await verifyTrail(trail, checkpoint));
    })
    .all(only('GET, HEAD'));

  r.route('/checkpoint')
    .get(read, async (_req, res) => {
      const jws = await checkpoints.latest();
      const payload = JSON.parse(Buffer.from(jws.split('.')[1]!, 'base64url').toString('utf8')) as Checkpoint;
      res.json({ checkpoint: jws, ...payload });
    })
    .all(only('GET, HEAD'));

  return r;
}
