import type { RequestContext } from '../audit/context.js';
import type { EventSink } from '../audit/events.js';
import { invalidGrant } from '../errors.js';
import type { Registry } from '../clients/types.js';
import type { KeyStore } from '../keys/keystore.js';
import { readTokenSid, signAccessToken, tokenHash } from './access-token.js';
import { agentsOf, rootOf, type Session, type SessionFilter, type SessionStore, type TokenClaims } from '../store/index.js';
import type { Grant } from './attenuate.js';
import { IdSource } from './ids.js';

export interface Issued {
  token: string;
  session: Session;
}

export interface Clock {
  nowMs(): number;
}
export const systemClock: Clock = { nowMs: () => Date.now() };

/**
 * The one place that issues tokens, looks them up and kills sessions. Every decision emits an
 * event; a token is returned only after its session record is stored.
 */
export class SessionService {
  constructor(
    private readonly store: SessionStore,
    private readonly keys: KeyStore,
    readonly issuer: string,
    private readonly registry: Registry,
    private readonly events: EventSink,
    private readonly clock: Clock = systemClock,
    private readonly ids: IdSource = new IdSource(),
  ) {}

  now(): number {
    return this.clock.nowMs();
  }

  async issue(grant: Grant, grantType: string, context: RequestContext): Promise<Issued> {
    const parent = grant.parent;
    const id = this.ids.next();
    const jti = this.ids.next();
    const draft: Omit<Session, 'tokenHash'> = {
      sid: parent ? `${rootOf(parent.sid)}.${id}` : id,
      ...(parent ? { parent: parent.sid } : {}),
      ancestors: parent ? [...parent.ancestors, parent.sid] : [],
      depth: grant.depth,
      maxDepth: grant.maxDepth,
      agent: grant.agent,
      sub: grant.sub,
      ...(grant.act ? { act: grant.act } : {}),
      aud: grant.aud,
      scope: grant.scope,
      iat: Math.floor(this.now() / 1000),
      exp: grant.exp,
      jti,
    };
    const token = signAccessToken(this.keys, this.issuer, draft);
    const session: Session = { ...draft, tokenHash: tokenHash(token) };
    if (!(await this.store.create(session, this.now()))) {
      throw invalidGrant('the subject token was revoked');
    }
    this.events.emit({
      type: 'token.issued', requestId: context.requestId, sid: session.sid, ...(parent ? { parent: parent.sid } : {}), agent: session.agent,
      sub: session.sub, aud: session.aud, scope: session.scope, exp: session.exp, grant: grantType,
    });
    return { token, session };
  }

  /**
   * The live session behind an agent-sts token, or undefined for anything else: one store round
   * trip, plus an in-process check that no agent on the chain has been disabled or removed.
   */
  lookup(token: string): Promise<Session | undefined> {
    return this.#live(token, (sid, hash, nowMs) => this.store.findByToken(sid, hash, nowMs));
  }

  /** As lookup, with only the token's claims: introspection and revocation need no more. */
  lookupClaims(token: string): Promise<TokenClaims | undefined> {
    return this.#live(token, (sid, hash, nowMs) => this.store.findClaimsByToken(sid, hash, nowMs));
  }

  async #live<T extends TokenClaims>(token: string, find: (sid: string, hash: string, nowMs: number) => Promise<T | undefined>): Promise<T | undefined> {
    const sid = readTokenSid(token, this.issuer);
    const found = sid ? await find(sid, tokenHash(token), this.now()) : undefined;
    if (!found) return undefined;
    for (const id of agentsOf(found)) {
      const agent = await this.registry.agent(id);
      if (!agent || agent.disabled) return undefined;
    }
    return found;
  }

  async revokeTree(sid: string, by: string, reason: 'revocation' | 'admin', context: RequestContext): Promise<number> {
    const revoked = await this.store.revokeTree(sid);
    this.events.emit({ type: 'session.revoked', requestId: context.requestId, sid, revoked, by, reason });
    return revoked;
  }

  async revokeAgent(agent: string, by: string, context: RequestContext): Promise<number> {
    const revoked = await this.store.revokeAgent(agent, this.now());
    this.events.emit({ type: 'agent.sessions_revoked', requestId: context.requestId, agent, revoked, by });
    return revoked;
  }

  list(filter: SessionFilter, limit: number): Promise<Session[]> {
    return this.store.list(filter, this.now(), limit);
  }

  subtree(sid: string): Promise<Session[]> {
    return this.store.subtree(sid, this.now());
  }
}
