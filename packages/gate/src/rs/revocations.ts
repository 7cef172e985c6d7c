import { randomBytes } from 'node:crypto';
import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload } from 'jose';
import { clientAuthentication, type ClientCredentials } from '../protocol/client/client-auth.js';
import { fetchMetadata, WELL_KNOWN, wellKnownUrl } from '../protocol/client/discovery.js';
import { systemClock, type Clock } from '../protocol/clock.js';
import { expiresAtMs, MS_PER_EXP_UNIT } from '../protocol/expiry.js';
import { ASYMMETRIC_ALGORITHMS, CLOCK_TOLERANCE_SECONDS } from '../protocol/jwt.js';
import {
  CAEP_SESSION_REVOKED, REVOKED_SESSIONS_MEMBER, SET_TYP, SSF_VERIFICATION, type PollResponse, type RevokedSession,
} from '../protocol/ssf.js';
import { MAX_TOKEN_TTL_SECONDS } from '../protocol/tokens.js';
import { httpClient } from './http.js';

/** Without a successful poll for this long, the feed is stale: local mode introspects, introspect mode stops caching. */
export const DEFAULT_STALE_AFTER_MS = 15_000;
/** SETs asked for per poll (a SET lists up to 1,000 sessions). */
const MAX_EVENTS_PER_POLL = 20;
/** A poll answer carries up to MAX_EVENTS_PER_POLL SETs of up to ~60 KB each. */
const MAX_POLL_RESPONSE_BYTES = 4 * 1024 * 1024;
/** After a failed poll: wait this long, doubling up to RETRY_MAX_MS. */
const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 5_000;
/** jose codes that mean the key set could not be fetched (not that the SET is bad): the poll is retried, nothing acknowledged. */
const KEYS_UNREACHABLE = new Set(['ERR_JWKS_TIMEOUT', 'ERR_JOSE_GENERIC']);
/** A SET older than the longest token lifetime names only expired tokens: ignored, like a replay. */
const MAX_SET_AGE_SECONDS = MAX_TOKEN_TTL_SECONDS;

export interface RevocationFeedOptions {
  /** The agent-sts issuer URL; its SSF configuration is discovered at /.well-known/ssf-configuration. */
  issuer: string;
  /** This resource server's identifier: only SETs addressed to it are applied. */
  audience: string;
  /** The resource server's own credentials, as for /introspect. */
  credentials: ClientCredentials;
  /** For each discovery and JWKS request; a poll may take STS_SSF_LONG_POLL_MS on top. Default 5000. */
  timeoutMs?: number;
  /** Default DEFAULT_STALE_AFTER_MS; keep it above agent-sts's STS_SSF_LONG_POLL_MS. */
  staleAfterMs?: number;
  /** Where "now" is read (freshness, kills' expiry, SET verification); default the wall clock. */
  clock?: Clock;
}

export interface FeedStats {
  /** SETs verified and applied. */
  applied: number;
  /** SETs not applied: a bad signature, another audience or issuer, not a SET, too old (reported in setErrs), or a jti already applied (acknowledged). */
  ignored: number;
  /** Polls that failed (agent-sts unreachable, or an error answer). */
  failures: number;
  /** Times agent-sts said unacknowledged SETs were lost to retention. */
  resyncs: number;
  /** Sessions held as revoked now (each until its token's exp). */
  revoked: number;
  /** Requests a gate introspected because the feed was stale. */
  fallbacks: number;
}

/**
 * A resource server's subscription to its agent-sts revocation events (SSF poll, RFC 8936): a long
 * poll that verifies every SET against the issuer's JWKS and keeps the revoked sessions until
 * their tokens would have expired. One per process is enough; pass it to every `requireToken`.
 */
export interface RevocationFeed {
  /** Starts polling (idempotent); the gate calls it on its first request. */
  start(): void;
  /** Whether a kill of `sid` was heard. */
  isRevoked(sid: string): boolean;
  /** Whether the feed heard from agent-sts within staleAfterMs: when not, do not rely on it. */
  fresh(): boolean;
  /** Starts the feed; resolves once it has caught up for the first time. */
  ready(): Promise<void>;
  /** `fn` runs when agent-sts says SETs were lost: drop whatever was cached. */
  onResync(fn: () => void): void;
  stats(): FeedStats;
  /** A gate counts a request it introspected because the feed was stale (stats().fallbacks). */
  fellBack(): void;
  close(): void;
}

interface SsfConfiguration {
  issuer: string;
  jwks_uri: string;
  poll_endpoint: string;
}

const sleep = (ms: number, signal: AbortSignal) => new Promise<void>((resolve) => {
  const t = setTimeout(resolve, ms);
  t.unref();
  signal.addEventListener('abort', () => {
    clearTimeout(t);
    resolve();
  }, { once: true });
});

function revokedSessionsOf(payload: JWTPayload): RevokedSession[] | undefined {
  const events = payload.events as Record<string, unknown> | undefined;
  const event = events?.[CAEP_SESSION_REVOKED] as Record<string, unknown> | undefined;
  const list = event?.[REVOKED_SESSIONS_MEMBER];
  if (!Array.isArray(list)) return undefined;
  const ok = list.every((s: unknown) => typeof (s as RevokedSession)?.sid === 'string' && Number.isFinite((s as RevokedSession)?.exp));
  return ok ? (list as RevokedSession[]) : undefined;
}

export function revocationFeed(o: RevocationFeedOptions): RevocationFeed {
  const timeoutMs = o.timeoutMs ?? 5_000;
  const staleAfterMs = o.staleAfterMs ?? DEFAULT_STALE_AFTER_MS;
  const clock = o.clock ?? systemClock;
  const http = httpClient();
  // Each feed its own stream: two processes (or two feeds) of one resource server each hear every SET.
  const stream = randomBytes(12).toString('base64url');
  const revoked = new Map<string, number>();
  /** jti → until when (ms) a repeat of it is ignored. */
  const applied = new Map<string, number>();
  const resyncListeners: (() => void)[] = [];
  const stats = { applied: 0, ignored: 0, failures: 0, resyncs: 0, fallbacks: 0 };
  const stop = new AbortController();
  let lastHeardMs: number | undefined;
  let started = false;
  let config: SsfConfiguration | undefined;
  let jwks: ReturnType<typeof createRemoteJWKSet> | undefined;
  let caughtUp: () => void = () => {};
  const firstCaughtUp = new Promise<void>((resolve) => {
    caughtUp = resolve;
  });

  const discover = async (): Promise<SsfConfiguration> => {
    if (config) return config;
    const c = (await fetchMetadata(wellKnownUrl(o.issuer, WELL_KNOWN.ssfConfiguration), o.issuer, { timeoutMs, signal: stop.signal })) as Partial<SsfConfiguration>;
    if (typeof c.jwks_uri !== 'string' || typeof c.poll_endpoint !== 'string') throw new Error('the SSF configuration names no jwks_uri or poll endpoint');
    jwks = createRemoteJWKSet(new URL(c.jwks_uri), { timeoutDuration: timeoutMs });
    config = c as SsfConfiguration;
    return config;
  };

  const prune = (nowMs: number) => {
    for (const [sid, untilMs] of revoked) if (untilMs <= nowMs) revoked.delete(sid);
    for (const [jti, untilMs] of applied) if (untilMs <= nowMs) applied.delete(jti);
  };

  /**
   * Verifies one SET and applies it. `skipped`: genuine, nothing to apply (another stream's
   * verification); `duplicate`: a jti already applied; `refused`: not a SET to trust. Throws only
   * when the issuer's keys could not be fetched: then nothing may be acknowledged.
   */
  const apply = async (jti: string, set: string): Promise<'applied' | 'skipped' | 'duplicate' | 'refused'> => {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(set, jwks!, {
        issuer: o.issuer, audience: o.audience, typ: SET_TYP, algorithms: ASYMMETRIC_ALGORITHMS,
        clockTolerance: CLOCK_TOLERANCE_SECONDS, maxTokenAge: MAX_SET_AGE_SECONDS, currentDate: new Date(clock.nowMs()),
      }));
    } catch (err) {
      if (err instanceof errors.JOSEError && KEYS_UNREACHABLE.has(err.code)) throw err;
      return 'refused';
    }
    const sessions = revokedSessionsOf(payload);
    if (payload.jti !== jti) return 'refused';
    if (!sessions && (payload.events as Record<string, unknown> | undefined)?.[SSF_VERIFICATION]) return 'skipped';
    if (!sessions) return 'refused';
    if (applied.has(jti)) return 'duplicate';
    // Held until the token could no longer pass anywhere (its exp, plus the leeway verifiers allow).
    const toleranceMs = CLOCK_TOLERANCE_SECONDS * MS_PER_EXP_UNIT;
    for (const s of sessions) revoked.set(s.sid, Math.max(revoked.get(s.sid) ?? 0, expiresAtMs(s.exp) + toleranceMs));
    applied.set(jti, expiresAtMs((payload.iat ?? 0) + MAX_SET_AGE_SECONDS) + toleranceMs);
    return 'applied';
  };

  const pollOnce = async (ack: string[], setErrs: Record<string, { err: string; description: string }>, catchingUp: boolean): Promise<PollResponse> => {
    const c = await discover();
    const auth = await clientAuthentication(o.credentials, o.issuer, clock);
    // While catching up (first poll, or more waiting) nothing is worth waiting for; after that, a long poll.
    const body = JSON.stringify({ ...auth.params, stream, returnImmediately: catchingUp, maxEvents: MAX_EVENTS_PER_POLL, ack, setErrs });
    const res = await http.post(c.poll_endpoint, auth.headers, body, {
      timeoutMs: staleAfterMs, contentType: 'application/json', maxResponseBytes: MAX_POLL_RESPONSE_BYTES, signal: stop.signal, unref: true,
    });
    const answer = res.json as PollResponse | null;
    if (res.status !== 200 || typeof answer?.sets !== 'object' || answer.sets === null) throw new Error(`poll: HTTP ${res.status}`);
    return answer;
  };

  const run = async () => {
    let ack: string[] = [];
    let setErrs: Record<string, { err: string; description: string }> = {};
    let retryMs = RETRY_MIN_MS;
    let catchingUp = true;
    while (!stop.signal.aborted) {
      try {
        const answer = await pollOnce(ack, setErrs, catchingUp);
        catchingUp = answer.moreAvailable === true;
        retryMs = RETRY_MIN_MS;
        if (answer.resync) {
          stats.resyncs++;
          for (const fn of resyncListeners) fn();
        }
        // Filled as the SETs are handled: if the keys cannot be fetched half-way, what was handled is still acknowledged next time.
        ack = [];
        setErrs = {};
        for (const [jti, set] of Object.entries(answer.sets)) {
          const outcome = typeof set === 'string' ? await apply(jti, set) : 'refused';
          if (outcome !== 'refused') {
            if (outcome === 'applied') stats.applied++;
            if (outcome === 'duplicate') stats.ignored++;
            ack.push(jti);
          } else {
            stats.ignored++;
            // RFC 8936 §2.4: a SET the recipient refuses is reported, which acknowledges it.
            setErrs[jti] = { err: 'invalid_request', description: 'not a valid session-revoked SET for this audience' };
          }
        }
        prune(clock.nowMs());
        // Caught up only once nothing more waits: a backlog being read is not yet fresh.
        if (answer.moreAvailable !== true) {
          lastHeardMs = clock.nowMs();
          caughtUp();
        }
      } catch {
        if (stop.signal.aborted) return;
        stats.failures++;
        await sleep(retryMs, stop.signal);
        retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
      }
    }
  };

  const start = () => {
    if (started) return;
    started = true;
    void run();
  };
  return {
    start,
    ready: () => {
      start();
      return firstCaughtUp;
    },
    isRevoked: (sid) => {
      const untilMs = revoked.get(sid);
      return untilMs !== undefined && untilMs > clock.nowMs();
    },
    fresh: () => lastHeardMs !== undefined && clock.nowMs() - lastHeardMs < staleAfterMs,
    onResync: (fn) => {
      resyncListeners.push(fn);
    },
    stats: () => ({ ...stats, revoked: revoked.size }),
    fellBack: () => {
      stats.fallbacks++;
    },
    close: () => {
      stop.abort();
      http.close();
    },
  };
}
