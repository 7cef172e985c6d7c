import { StoreUnavailableError } from '../../errors.js';
import type { ReplayStore, SessionStore } from '../index.js';
import type { RedisClient } from './connect.js';
import type { RedisKeys } from '../keys.js';
import { agentsOf, rootOf, type Actor, type Session, type SessionFilter, type TokenClaims } from '../types.js';
import { CLAIM_FIELDS, decodeClaims, decodeSession, encodeSession, SESSION_FIELDS } from './codec.js';
import * as lua from './scripts.js';

type Script = (keys: string[], args: (string | number)[]) => Promise<unknown>;

function defineScript(redis: RedisClient, name: string, source: string): Script {
  redis.defineCommand(name, { lua: source });
  const command = (redis as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[name]!.bind(redis);
  return (keys, args) => command(keys.length, ...keys, ...args);
}

/** Replies that mean "Redis cannot serve right now", as opposed to a bug in a script. */
const UNAVAILABLE_REPLY = /^(LOADING|BUSY|MASTERDOWN|READONLY|TRYAGAIN|CLUSTERDOWN|NOREPLICAS|OOM)/;

/** Every store call goes through here: connection loss and timeouts become a 503, never a guess. */
async function guard<T>(op: Promise<T>): Promise<T> {
  try {
    return await op;
  } catch (err) {
    const e = err as Error;
    if (e.name === 'ReplyError' && !UNAVAILABLE_REPLY.test(e.message)) throw err;
    throw new StoreUnavailableError(err);
  }
}

/** How many index entries `list` reads per step while it looks for matches. */
const LIST_BATCH = 256;
/** Subtree kills in flight at once during an agent-wide kill. */
const KILL_WINDOW = 256;
/** Members per ZREM when dropping index entries in bulk. */
const ZREM_CHUNK = 1_000;
/**
 * Every this many creates (per instance), the create also drops its indexes' long-expired entries.
 * Stale entries are harmless (reads filter by expiry, kills of dead sessions are no-ops) and an
 * idle index expires whole, so pruning on every create would only spend a range scan per index.
 */
export const INDEX_PRUNE_EVERY = 32;

interface Removed {
  sid: string;
  agents: string[];
  sub: string;
}

/**
 * Sessions in Redis. Each tree lives in one hash slot; indexes live in their own. On a single
 * Redis a session and its index entries are written by one atomic script. On a cluster the index
 * entries are written before the session, and a kill leaves a tombstone, so a kill that read an
 * index never misses a session that was being created.
 */
export class RedisSessionStore implements SessionStore, ReplayStore {
  readonly #redis: RedisClient;
  readonly #keys: RedisKeys;
  readonly #create: Script;
  readonly #indexAdd: Script;
  readonly #createIndexed: Script;
  readonly #find: Script;
  readonly #subtree: Script;
  readonly #revoke: Script;
  readonly #cluster: boolean;
  #creates = 0;

  constructor(redis: RedisClient, keys: RedisKeys) {
    this.#redis = redis;
    this.#cluster = redis.isCluster;
    this.#keys = keys;
    this.#create = defineScript(redis, 'stsCreate', lua.CREATE);
    this.#indexAdd = defineScript(redis, 'stsIndexAdd', lua.INDEX_ADD);
    this.#createIndexed = defineScript(redis, 'stsCreateIndexed', lua.CREATE_INDEXED);
    this.#find = defineScript(redis, 'stsFind', lua.FIND_BY_TOKEN);
    this.#subtree = defineScript(redis, 'stsSubtree', lua.SUBTREE);
    this.#revoke = defineScript(redis, 'stsRevokeTree', lua.REVOKE_TREE);
  }

  #indexKeys(s: Pick<Session, 'sub'>, agents: string[]): string[] {
    const k = this.#keys;
    return [...agents.map((a) => k.agentIndex(a)), k.subjectIndex(s.sub), k.allSessions()];
  }

  async create(s: Session, nowMs: number): Promise<boolean> {
    const k = this.#keys;
    const indexes = this.#indexKeys(s, agentsOf(s));
    const prune = this.#creates++ % INDEX_PRUNE_EVERY === 0 ? '1' : '0';
    const indexArgs = [nowMs, s.exp * 1000, s.sid, prune];
    const keys = [k.session(s.sid), s.parent ? k.children(s.parent) : k.session(s.sid), k.revoked(s.sid)];
    const args = [nowMs, s.exp * 1000, s.sid, k.tree(s.sid), s.ancestors.join(' '), prune, ...encodeSession(s)];
    if (!this.#cluster) return (await guard(this.#createIndexed([...keys, ...indexes], args))) === 1;
    // Indexes sit in other slots, on other nodes: write them first, then the record.
    await guard(Promise.all(indexes.map((index) => this.#indexAdd([index], indexArgs))));
    const stored = (await guard(this.#create(keys, args))) === 1;
    if (!stored) await guard(Promise.all(indexes.map((index) => this.#redis.zrem(index, s.sid))));
    return stored;
  }

  async findByToken(sid: string, tokenHash: string, nowMs: number): Promise<Session | undefined> {
    const row = await this.#findRow(sid, tokenHash, nowMs, 'session');
    return row && decodeSession(sid, row);
  }

  async findClaimsByToken(sid: string, tokenHash: string, nowMs: number): Promise<TokenClaims | undefined> {
    const row = await this.#findRow(sid, tokenHash, nowMs, 'claims');
    return row && decodeClaims(sid, row);
  }

  /**
   * The row of the live session, or undefined. A root session has no ancestors to check, so one
   * HMGET answers exactly as the script would, in about a third of Redis' time; a descendant needs
   * the script, which checks every ancestor in the same atomic step.
   */
  async #findRow(sid: string, tokenHash: string, nowMs: number, fields: 'claims' | 'session'): Promise<(string | null)[] | undefined> {
    const k = this.#keys;
    if (rootOf(sid) === sid) {
      const row = await guard(this.#redis.hmget(k.session(sid), ...(fields === 'claims' ? CLAIM_FIELDS : SESSION_FIELDS)));
      return row[0] === tokenHash && Number(row[1]) * 1000 > nowMs ? row : undefined;
    }
    return ((await guard(this.#find([k.session(sid)], [tokenHash, nowMs, k.tree(sid), fields]))) as (string | null)[] | null) ?? undefined;
  }

  async subtree(sid: string, nowMs: number): Promise<Session[]> {
    const flat = (await guard(this.#subtree([this.#keys.session(sid)], [sid, nowMs, this.#keys.tree(sid)]))) as (string | (string | null)[])[];
    const out: Session[] = [];
    for (let i = 0; i < flat.length; i += 2) out.push(decodeSession(flat[i] as string, flat[i + 1] as (string | null)[]));
    return out;
  }

  /** Reads the index in batches and the sessions one by one (they live in other slots). */
  async list(filter: SessionFilter, nowMs: number, limit: number): Promise<Session[]> {
    const k = this.#keys;
    const index = filter.agent ? k.agentIndex(filter.agent) : filter.sub ? k.subjectIndex(filter.sub) : k.allSessions();
    const out: Session[] = [];
    for (let offset = 0; out.length < limit; offset += LIST_BATCH) {
      const sids = await guard(this.#redis.zrangebyscore(index, `(${nowMs}`, '+inf', 'LIMIT', offset, LIST_BATCH));
      if (sids.length === 0) break;
      const rows = await guard(Promise.all(sids.map((sid) => this.#redis.hmget(k.session(sid), ...SESSION_FIELDS))));
      for (const [i, row] of rows.entries()) {
        if (!row[0]) continue;
        const s = decodeSession(sids[i]!, row);
        if (s.exp * 1000 > nowMs && (!filter.sub || s.sub === filter.sub)) out.push(s);
        if (out.length === limit) break;
      }
    }
    return out;
  }

  async #revokeOne(sid: string, nowMs: number, tombstoneUntilMs: number): Promise<Removed[]> {
    const k = this.#keys;
    const reply = (await guard(this.#revoke([k.session(sid), k.revoked(sid)], [sid, k.tree(sid), nowMs, tombstoneUntilMs]))) as (
      | number
      | string
    )[];
    const removed: Removed[] = [];
    for (let i = 1; i < reply.length; i += 4) {
      const act = reply[i + 3] as string;
      const agents = agentsOf({ agent: reply[i + 1] as string, ...(act ? { act: JSON.parse(act) as Actor } : {}) });
      removed.push({ sid: reply[i] as string, agents, sub: reply[i + 2] as string });
    }
    return removed;
  }

  /** Index entries of killed sessions, dropped after the kill (a stale entry is harmless, never live). */
  async #dropIndexEntries(removed: Removed[]): Promise<void> {
    const byIndex = new Map<string, string[]>();
    for (const r of removed) {
      for (const index of this.#indexKeys(r, r.agents)) {
        const sids = byIndex.get(index);
        if (sids) sids.push(r.sid);
        else byIndex.set(index, [r.sid]);
      }
    }
    await this.#zremAll(byIndex);
  }

  async #zremAll(byIndex: Map<string, string[]>): Promise<void> {
    const calls: Promise<number>[] = [];
    for (const [index, sids] of byIndex) {
      for (let i = 0; i < sids.length; i += ZREM_CHUNK) calls.push(this.#redis.zrem(index, ...sids.slice(i, i + ZREM_CHUNK)));
    }
    await guard(Promise.all(calls));
  }

  async revokeTree(sid: string): Promise<number> {
    const removed = await this.#revokeOne(sid, Date.now(), 0);
    await this.#dropIndexEntries(removed);
    return removed.length;
  }

  /**
   * Kills the subtree of every session in the agent's index. Each subtree kill is atomic in its own
   * slot and tombstones its sid until the entry's expiry, so a session whose index entry was
   * already written but whose record was not yet stored can never appear afterwards.
   */
  async revokeAgent(agentId: string, nowMs: number): Promise<number> {
    const index = this.#keys.agentIndex(agentId);
    const entries = await guard(this.#redis.zrange(index, '0', '-1', 'WITHSCORES'));
    const sids: string[] = [];
    const untils: number[] = [];
    for (let i = 0; i < entries.length; i += 2) {
      sids.push(entries[i]!);
      untils.push(Number(entries[i + 1]));
    }
    // Bounded: thousands of scripts in flight at once would each wait behind the others and run
    // into the per-command timeout; a window keeps every command short and the whole kill fast.
    const removed: Removed[] = [];
    for (let i = 0; i < sids.length; i += KILL_WINDOW) {
      const batch = sids.slice(i, i + KILL_WINDOW).map((sid, j) => this.#revokeOne(sid, nowMs, untils[i + j]!));
      for (const r of await Promise.all(batch)) removed.push(...r);
    }
    await this.#dropIndexEntries(removed);
    await this.#zremAll(new Map([[index, sids]]));
    return removed.length;
  }

  async useOnce(id: string, expiresAtMs: number, nowMs: number): Promise<boolean> {
    const ttlMs = Math.max(expiresAtMs - nowMs, 1);
    return (await guard(this.#redis.set(this.#keys.usedOnce(id), '1', 'PX', ttlMs, 'NX'))) === 'OK';
  }

  async ping(): Promise<void> {
    await guard(this.#redis.ping());
  }

  async close(): Promise<void> {
    this.#redis.disconnect();
  }
}
