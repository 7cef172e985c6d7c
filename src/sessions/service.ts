import { ISSUER_SIGNING_ALGORITHMS, MAX_TOKEN_LENGTH } from 'agent-sts-gate/protocol';
import type { RequestContext } from '../audit/context.js';
import { compactVerify, createLocalJWKSet } from 'jose';
import { auditUnavailable, envelope, type DurableEvent, type Endpoint, type EventSink, type KillReason } from '../audit/events.js';
import { killOutcome, revocationRequested, tokenIssued, type KillTarget } from '../audit/records.js';
import { invalidClient, invalidGrant, invalidRequest, OAuthError, RETRY_AFTER_SECONDS } from '../errors.js';
import type { Registry } from '../clients/types.js';
import type { KeyStore } from '../keys/keystore.js';
import { readTokenSid, signAccessToken, tokenHash } from './access-token.js';
import { rootOf, type KillTag, type RemovedSession, type Session, type ListOrder, type SessionFilter, type SessionStore, type TokenClaims } from '../store/index.js';
import type { KillAnnouncer } from './announcer.js';
import { systemClock, type Clock } from './clock.js';
import type { Grant } from './attenuate.js';
import { chainAllowed } from './chain.js';
import { IdSource } from './ids.js';


/**
 * A create refused because an agent it names is disabled: answered exactly as a wrong secret is
 * (401 invalid_client), so a caller cannot tell a disabled agent from bad credentials.
 */
export class AgentDisabledError extends OAuthError {
  constructor() {
    const plain = invalidClient(false);
    super(plain.status, plain.error, plain.description);
    this.name = 'AgentDisabledError';
  }
}

/**
 * A kill whose sessions are dead but whose outcome record or announcement did not land: the
 * sessions stay in the kill outbox, so a retry (or any instance's sweep, within seconds) records
 * and announces them. Says how many it killed.
 */
export class KillIncompleteError extends OAuthError {
  constructor(readonly revoked: number, cause: unknown) {
    super(503, 'temporarily_unavailable',
      `killed ${revoked} session(s); recording and announcing the kill did not complete: retrying completes it, and so does the service within seconds`,
      { 'Retry-After': String(RETRY_AFTER_SECONDS) });
    this.name = 'KillIncompleteError';
    this.cause = cause;
  }
}

/** Sessions a subject-wide kill lists and kills per step. */
const SUBJECT_KILL_BATCH = 500;
/** Bounds the kill's loop (2,000,000 sessions); each step removes every session it listed. */
const SUBJECT_KILL_MAX_STEPS = 4_000;

export interface Issued {
  token: string;
  session: Session;
}

/** Where a token was presented, so a killed one presented again can be reported (token.used_after_revocation). */
export interface Presented {
  endpoint: Endpoint;
  context: RequestContext;
  /** The authenticated caller presenting it. */
  by: string | null;
}

/** At most one token.used_after_revocation per session this often, per process: a flood cannot fill the trail. */
export const USED_AFTER_REVOCATION_EVERY_MS = 60_000;
/** Sessions remembered for that limit; beyond it the memory is cleared (the limit errs towards recording). */
const USED_AFTER_REVOCATION_TRACKED = 10_000;

export { systemClock, type Clock } from './clock.js';

export interface SessionServiceOptions {
  clock?: Clock;
  ids?: IdSource;
  /** Finishes kills whose announcement never landed; a kill that removed nothing (a retry) drains it. */
  announcer?: KillAnnouncer;
}

/**
 * The one place that issues tokens, looks them up and kills sessions. Every decision emits an
 * event; a token is returned only after its session record is stored.
 */
export class SessionService {
  private readonly clock: Clock;
  private readonly ids: IdSource;
  private readonly announcer: KillAnnouncer | undefined;

  constructor(
    private readonly store: SessionStore,
    private readonly keys: KeyStore,
    readonly issuer: string,
    private readonly registry: Registry,
    private readonly events: EventSink,
    options: SessionServiceOptions = {},
  ) {
    this.clock = options.clock ?? systemClock;
    this.ids = options.ids ?? new IdSource();
    this.announcer = options.announcer;
  }

  readonly #reported = new Map<string, number>();

  now(): number {
    return this.clock.nowMs();
  }

  async issue(grant: Grant, grantType: string, context: RequestContext): Promise<Issued> {
    // the request's one reading of the clock (its arrival, on the service clock): the grant's
    // lifetime, iat, the record's time and the store's now all agree
    const nowMs = context.startedMs;
    const parent = grant.parent;
    const id = this.ids.next();
    const jti = this.ids.next();
    const draft: Omit<Session, 'tokenHash'> = {
      sid: parent ? `${rootOf(parent.sid)}.${id}` : id,
      ancestors: parent ? [...parent.ancestors, parent.sid] : [],
      chain: parent ? [...parent.chain, parent.agent] : [],
      depth: grant.depth,
      maxDepth: grant.maxDepth,
      agent: grant.agent,
      sub: grant.sub,
      aud: grant.aud,
      scope: grant.scope,
      iat: Math.floor(nowMs / 1000),
      exp: grant.exp,
      jti,
    };
    // Optional properties are assigned, not spread: this runs for every token issued.
    if (parent) draft.parent = parent.sid;
    if (grant.act) draft.act = grant.act;
    if (grant.cnf) draft.cnf = grant.cnf;
    const token = signAccessToken(this.keys, this.issuer, draft);
    // A token the service could not read back would verify locally yet never introspect or revoke.
    if (token.length > MAX_TOKEN_LENGTH) throw invalidRequest(`the token would exceed ${MAX_TOKEN_LENGTH} characters: ask for fewer scopes`);
    const session = draft as Session;
    session.tokenHash = tokenHash(token);
    const issued = tokenIssued(session, parent, grantType, context, nowMs, grant.assertion);
    // On a single Redis the trail's record is appended by the create itself: still one round trip.
    const prepared = this.events.prepare?.(issued);
    const outcome = await this.store.create(session, nowMs, context.startedMs, prepared);
    if (outcome === 'agent_revoked' && !parent) {
      throw invalidGrant('the agent\'s sessions were revoked while this request was in flight; retry').because('agent_revoked');
    }
    if (outcome === 'agent_disabled') throw new AgentDisabledError();
    if (outcome === 'expired') throw invalidGrant('the subject token has expired').because('subject_expired');
    if (outcome !== 'created') throw invalidGrant('the subject token was revoked').because(outcome === 'agent_revoked' ? 'agent_revoked' : 'subject_revoked');
    await this.events.record(issued, prepared).catch(auditUnavailable);
    return { token, session };
  }

  /**
   * The live session behind an agent-sts token, or undefined for anything else: one store round
   * trip, plus the in-process chain rule (every agent on it enabled, every hand-over still allowed).
   */
  lookup(token: string, presented?: Presented): Promise<Session | undefined> {
    return this.#live(token, (sid, hash, nowMs) => this.store.findByToken(sid, hash, nowMs), presented);
  }

  /**
   * As lookup, with only the token's claims: introspection and revocation need no more. With
   * `aud`, a token of another audience is a miss, decided before any per-session work.
   */
  lookupClaims(token: string, aud?: string, presented?: Presented): Promise<TokenClaims | undefined> {
    return this.#live(token, (sid, hash, nowMs) => this.store.findClaimsByToken(sid, hash, nowMs, aud), presented);
  }

  async #live<T extends TokenClaims>(
    token: string, find: (sid: string, hash: string, nowMs: number) => Promise<T | undefined>, presented?: Presented,
  ): Promise<T | undefined> {
    const sid = readTokenSid(token, this.issuer);
    // a presented token is judged at its request's arrival (the request's one clock reading)
    const found = sid ? await find(sid, tokenHash(token), presented?.context.startedMs ?? this.now()) : undefined;
    if (!found && sid && presented) await this.#reportIfKilled(token, sid, presented);
    return found && chainAllowed(this.registry, found) ? found : undefined;
  }

  /**
   * Only after a miss (the live path never gets here): a token whose signature is ours, whose
   * session a kill removed, is reported, at most once per session per USED_AFTER_REVOCATION_EVERY_MS
   * (the store is asked at most that often per session, killed or not).
   * The signature is checked first, so a forged token naming a killed sid writes nothing. Best
   * effort: a failure here never changes the answer.
   */
  async #reportIfKilled(token: string, sid: string, presented: Presented): Promise<void> {
    const nowMs = this.now();
    const last = this.#reported.get(sid);
    if (last !== undefined && nowMs - last < USED_AFTER_REVOCATION_EVERY_MS) return;
    try {
      const { payload } = await compactVerify(token, createLocalJWKSet(this.keys.jwks()), { algorithms: [...ISSUER_SIGNING_ALGORITHMS] });
      const claims = JSON.parse(new TextDecoder().decode(payload)) as { sid?: unknown; client_id?: unknown; sub?: unknown; aud?: unknown };
      if (claims.sid !== sid) return;
      // Ours: asked at most once per window whatever the answer, so an expired token replayed costs one check a minute.
      if (this.#reported.size >= USED_AFTER_REVOCATION_TRACKED) this.#reported.clear();
      this.#reported.set(sid, nowMs);
      if (!(await this.store.wasKilled(sid, nowMs))) return;
      this.events.emit({
        type: 'token.used_after_revocation', ...envelope(presented.context, nowMs, presented.by), endpoint: presented.endpoint, sid,
        agent: String(claims.client_id), sub: String(claims.sub), aud: String(claims.aud),
      });
    } catch {
      // not our signature, or the store could not say: nothing to report
    }
  }

  revokeTree(sid: string, by: string, reason: KillReason, context: RequestContext): Promise<number> {
    return this.#kill({ of: 'session', sid, reason }, reason, by, context, (tag) => this.store.revokeTree(sid, this.now(), tag));
  }

  revokeAgent(agent: string, by: string, context: RequestContext): Promise<number> {
    return this.#kill({ of: 'agent', agent }, 'agent', by, context, (tag) => this.store.revokeAgent(agent, this.now(), tag));
  }

  /**
   * Kills every session on behalf of `sub` (its subtree with it), as listed by the subject index.
   * Unlike revokeAgent there is no marker: a session created while this runs may survive it.
   */
  revokeSubject(sub: string, by: string, context: RequestContext): Promise<number> {
    return this.#kill({ of: 'subject', sub }, 'subject', by, context, async (tag) => {
      const removed: RemovedSession[] = [];
      for (let step = 0; step < SUBJECT_KILL_MAX_STEPS; step++) {
        const batch = await this.store.list({ sub }, this.now(), SUBJECT_KILL_BATCH);
        if (batch.length === 0) break;
        for (const s of batch) removed.push(...(await this.store.revokeTree(s.sid, this.now(), tag)));
      }
      return removed;
    });
  }

  /** A kill: its request recorded first (no record, no kill), the store's kill tagged into the outbox, then its outcome. */
  async #kill(target: KillTarget, reason: string, by: string, context: RequestContext, run: (tag: KillTag) => Promise<RemovedSession[]>): Promise<number> {
    await this.#recordOrFail(revocationRequested(target, by, context, this.now()));
    const tag = this.#tag(context, reason);
    const removed = await run(tag);
    return this.#finish(killOutcome(target, removed, by, context, this.now()), removed, tag, context);
  }

  /** Every kill keeps what it removes in the outbox until its outcome is recorded and announced. */
  #tag(context: RequestContext, reason: string): KillTag {
    return { id: this.ids.next(), kill: context.requestId, reason };
  }

  /**
   * A kill's outcome: recorded (the trail) and announced (the SSF sink) before the answer; then
   * its sessions leave the outbox. If either did not land, the sessions stay there and the answer
   * is a 503 saying how many died. A kill that removed nothing is most likely a retry: it
   * announces at once whatever earlier kills left unannounced.
   */
  async #finish(outcome: DurableEvent, removed: RemovedSession[], tag: KillTag, context: RequestContext): Promise<number> {
    try {
      await this.events.record(outcome);
    } catch (err) {
      throw new KillIncompleteError(removed.length, err);
    }
    // Losing this cleanup costs a second announcement by the next drain, never a missing one.
    await this.store.announced(removed, tag).catch(() => {});
    if (removed.length === 0) await this.announceUnannounced(context);
    return removed.length;
  }

  /**
   * Records and announces at once whatever kills left unannounced (a change completing an earlier
   * kill of its own, whose sessions are already dead, calls this). Rejects as an incomplete kill.
   */
  async announceUnannounced(context: RequestContext): Promise<void> {
    await this.announcer?.drain(context, 0).catch((err: unknown) => {
      throw new KillIncompleteError(0, err);
    });
  }

  /** A kill's request record: a trail that cannot take it refuses the kill (503), with nothing killed. */
  #recordOrFail(event: DurableEvent): Promise<void> {
    return this.events.record(event).catch(auditUnavailable);
  }

  list(filter: SessionFilter, limit: number, order?: ListOrder): Promise<Session[]> {
    return this.store.list(filter, this.now(), limit, order);
  }

  subtree(sid: string): Promise<Session[]> {
    return this.store.subtree(sid, this.now());
  }
}
