import type { Redis } from 'ioredis';
import { StoreUnavailableError } from '../../errors.js';
import type { ReplayStore, SessionStore } from '../index.js';
import type { RedisKeys } from '../keys.js';
import { agentsOf, type Session, type SessionFilter } from '../types.js';
import { decodeSession, encodeSession } from './codec.js';
import * as lua from './scripts.js';

type Script = (keys: string[], args: (string | number)[]) => Promise<unknown>;

function defineScript(redis: Redis, name: string, source: string): Script {
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

function decodePairs(reply: unknown): Session[] {
  const flat = reply as (string | (string | null)[])[];
  const out: Session[] = [];
  for (let i = 0; i < flat.length; i += 2) out.push(decodeSession(flat[i] as string, flat[i + 1] as (string | null)[]));
  return out;
}

export class RedisSessionStore implements SessionStore, ReplayStore {
  readonly #redis: Redis;
  readonly #keys: RedisKeys;
  readonly #create: Script;
  readonly #find: Script;
  readonly #subtree: Script;
  readonly #list: Script;
  readonly #revoke: Script;
  readonly #revokeAgent: Script;

  constructor(redis: Redis, keys: RedisKeys) {
    this.#redis = redis;
    this.#keys = keys;
    this.#create = defineScript(redis, 'stsCreate', lua.CREATE);
    this.#find = defineScript(redis, 'stsFind', lua.FIND_BY_TOKEN);
    this.#subtree = defineScript(redis, 'stsSubtree', lua.SUBTREE);
    this.#list = defineScript(redis, 'stsList', lua.LIST);
    this.#revoke = defineScript(redis, 'stsRevoke', lua.REVOKE);
    this.#revokeAgent = defineScript(redis, 'stsRevokeAgent', lua.REVOKE_AGENT);
  }

  async create(s: Session, nowMs: number): Promise<boolean> {
    const k = this.#keys;
    const agents = agentsOf(s);
    const keys = [
      k.session(s.sid),
      s.parent ? k.children(s.parent) : k.session(s.sid),
      ...agents.map((a) => k.agentIndex(a)),
      k.subjectIndex(s.sub),
      k.allSessions(),
    ];
    const args = [nowMs, s.exp * 1000, s.sid, k.prefixes.session, s.ancestors.join(' '), ...encodeSession(s, agents)];
    return (await guard(this.#create(keys, args))) === 1;
  }

  async findByToken(sid: string, tokenHash: string, nowMs: number): Promise<Session | undefined> {
    const row = await guard(this.#find([this.#keys.session(sid)], [tokenHash, nowMs, this.#keys.prefixes.session]));
    return row ? decodeSession(sid, row as (string | null)[]) : undefined;
  }

  async subtree(sid: string, nowMs: number): Promise<Session[]> {
    const p = this.#keys.prefixes;
    return decodePairs(await guard(this.#subtree([], [sid, nowMs, p.session, p.children])));
  }

  async list(filter: SessionFilter, nowMs: number, limit: number): Promise<Session[]> {
    const k = this.#keys;
    const index = filter.agent ? k.agentIndex(filter.agent) : filter.sub ? k.subjectIndex(filter.sub) : k.allSessions();
    // With both filters the script walks the agent's index and keeps the subject's sessions.
    const sub = filter.agent && filter.sub ? filter.sub : '';
    return decodePairs(await guard(this.#list([index], [nowMs, limit, k.prefixes.session, sub])));
  }

  async revokeTree(sid: string): Promise<number> {
    return (await guard(this.#revoke([], [sid, ...this.#revokeArgs()]))) as number;
  }

  async revokeAgent(agentId: string): Promise<number> {
    return (await guard(this.#revokeAgent([this.#keys.agentIndex(agentId)], this.#revokeArgs()))) as number;
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

  #revokeArgs(): string[] {
    const p = this.#keys.prefixes;
    return [p.session, p.children, p.agentIndex, p.subjectIndex, this.#keys.allSessions()];
  }
}
