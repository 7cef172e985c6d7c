import { performance } from 'node:perf_hooks';
import { MAX_TOKEN_TTL_SECONDS } from 'agent-sts-gate/protocol';
import { StoreUnavailableError } from '../../errors.js';
import type { AuditAppend } from '../audit.js';
import type { ReplaySpace, ReplayStore, SessionStore } from '../index.js';
import type { RedisClient } from './connect.js';
import type { RedisKeys } from '../keys.js';
import { MS_PER_EXP_UNIT, tokenLive, unexpired } from '../liveness.js';
import { MARK_SEPARATOR } from '../keys.js';
import {
  agentKillMarker, agentsNamedBy, agentsOf, AGENT_KILL_MARKER_TTL_MS, assertStorable, rootOf,
  type CreateOutcome, type KillTag, type RemovedSession, type ListOrder, type Session, type SessionFilter, type TokenClaims,
  type UnannouncedSession, type UnannouncedTree,
} from '../types.js';
import { CLAIMS_READ, decodeClaims, decodePick, decodeSession, encodeSession, pickPlan, rawValue, REMOVED_PROPS, REMOVED_READ, SESSION_READ, type FieldRead } from './codec.js';
import * as lua from './scripts.js';
import { inWindows } from '../windows.js';

export type Script = (keys: string[], args: (string | number)[]) => Promise<unknown>;

export function defineScript(redis: RedisClient, name: string, source: string): Script {
  redis.defineCommand(name, { lua: source });
  const command = (redis as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[name]!.bind(redis);
  return (keys, args) => command(keys.length, ...keys, ...args);
}

/** Replies that mean "Redis cannot serve right now", as opposed to a bug in a script. */
/** AUDITFAIL: the create could not append its audit record (and so wrote nothing): fail closed too. */
const UNAVAILABLE_REPLY = /^(LOADING|BUSY|MASTERDOWN|READONLY|TRYAGAIN|CLUSTERDOWN|NOREPLICAS|OOM|AUDITFAIL)/;

/** Every store call goes through here: connection loss and timeouts become a 503, never a guess. */
export async function guard<T>(op: Promise<T>): Promise<T> {
  try {
    return await op;
  } catch (err) {
    const e = err as Error;
    if (e.name === 'ReplyError' && !UNAVAILABLE_REPLY.test(e.message)) throw err;
    throw new StoreUnavailableError(err);
  }
}

/** A tree's mark in the unannounced set: which tree, which kill (both needed: kills of one tree overlap). */
const markOf = (root: string, tag: KillTag) => `${root}${MARK_SEPARATOR}${tag.id}`;

const killIdOf = (mark: string) => mark.slice(mark.indexOf(MARK_SEPARATOR) + 1);

interface WalkOptions {
  /** The time each step is stamped with. */
  clock: () => number;
  /** > 0: take the walk only if its last step was earlier (a sweep finishing a kill that stopped). */
  staleBeforeMs: number;
  /** The kill's own mark, stamped with each step too. */
  mark?: string | undefined;
}

/** `nowMs`, moved on by the time elapsed since: a long kill's steps are stamped as they happen. */
function movingClock(nowMs: number): () => number {
  const startedAt = performance.now();
  return () => nowMs + Math.round(performance.now() - startedAt);
}

/** How long the unannounced set outlives its newest mark: the longest a marked session can live, and an hour of clock skew. */
const UNANNOUNCED_KEEP_MS = (MAX_TOKEN_TTL_SECONDS + 3_600) * 1_000;

/** How many index entries `list` reads per step while it looks for matches. */
const LIST_BATCH = 256;
/** Subtree kills in flight at once during an agent-wide kill. */
const KILL_WINDOW = 256;
/**
 * Members per ZREM when dropping index entries in bulk, and sids per outbox clean-up script: Redis'
 * Lua refuses to unpack 8,000 values or more, and a spread of ~100k arguments overflows the stack.
 */
const ZREM_CHUNK = 1_000;
/**
 * Descendants a tree kill removes per walk step (REVOKE_WALK): 15-20 ms of Redis each, so however large
 * the tree, no kill holds Redis longer than that at a time (one atomic script held it 1.6 s at 100k).
 * A step unpacks at most 2 × WALK_STEP values into one command (the outbox HSET), under Lua's ~8,000 limit.
 */
export const WALK_STEP = 1_000;
/**
 * Bulk commands of up to ZREM_CHUNK members in flight at once (index clean-up, outbox settling):
 * each costs Redis about a millisecond and the per-command timeout counts the wait behind the
 * others, so a 100k kill's 300 ZREMs sent together timed out; a window keeps every wait short.
 */
const BULK_WINDOW = 16;
/**
 * Every this many creates (per instance), the create also drops its indexes' long-expired entries.
 * Stale entries are harmless (reads filter by expiry, kills of dead sessions are no-ops) and an
 * idle index expires whole, so pruning on every create would only spend a range scan per index.
 */
export const INDEX_PRUNE_EVERY = 32;

const OUTCOMES: ReadonlySet<string> = new Set<CreateOutcome>(['created', 'ancestor_revoked', 'agent_revoked', 'agent_disabled', 'expired']);

function outcomeOf(reply: unknown, audit?: AuditAppend): CreateOutcome {
  if (Array.isArray(reply) && reply[0] === 'created' && audit) {
    audit.appended = { seq: Number(reply[1]), hash: String(reply[2]), prev: String(reply[3]) };
    return 'created';
  }
  if (typeof reply === 'string' && OUTCOMES.has(reply)) return reply as CreateOutcome;
  throw new Error(`unexpected create reply ${String(reply)}`);
}

/** A kill decodes every session it removed: its plan is made once. */
const REMOVED_PICK = pickPlan(REMOVED_READ, REMOVED_PROPS);

/** The state a kill script's reply starts with (REVOKE_TREE, REVOKE_WALK; -1: a live kill has the walk). */
const WALK_DONE = 0;
const WALK_MORE = 1;

/** Appends a kill script's {state, sid, row, ...} rows to `removed`; returns the state. */
function decodeRemoved(reply: unknown, removed: RemovedSession[]): number {
  const flat = reply as [number, ...(string | (string | null)[])[]];
  for (let i = 1; i < flat.length; i += 2) removed.push(decodePick(flat[i] as string, flat[i + 1] as (string | null)[], REMOVED_PICK));
  return Number(flat[0]);
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
  readonly #markKilled: Script;
  readonly #find: Script;
  readonly #subtree: Script;
  readonly #revoke: Script;
  readonly #walk: Script;
  readonly #announced: Script;
  readonly #enable: Script;
  readonly #cluster: boolean;
  #creates = 0;

  constructor(redis: RedisClient, keys: RedisKeys) {
    this.#redis = redis;
    this.#cluster = redis.isCluster;
    this.#keys = keys;
    this.#create = defineScript(redis, 'stsCreate', lua.CREATE);
    this.#indexAdd = defineScript(redis, 'stsIndexAdd', lua.INDEX_ADD);
    this.#markKilled = defineScript(redis, 'stsMarkAgentKilled', lua.MARK_AGENT_KILLED);
    this.#find = defineScript(redis, 'stsFind', lua.FIND_BY_TOKEN);
    this.#subtree = defineScript(redis, 'stsSubtree', lua.SUBTREE);
    this.#revoke = defineScript(redis, 'stsRevokeTree', lua.REVOKE_TREE);
    this.#walk = defineScript(redis, 'stsRevokeWalk', lua.REVOKE_WALK);
    this.#announced = defineScript(redis, 'stsAnnounced', lua.ANNOUNCED);
    this.#enable = defineScript(redis, 'stsEnableAgent', lua.ENABLE_AGENT);
  }

  #indexKeys(s: Pick<Session, 'sub'>, agents: string[]): string[] {
    const k = this.#keys;
    return [...agents.map((a) => k.agentIndex(a)), k.subjectIndex(s.sub), k.allSessions()];
  }

  /**
   * With `audit` on a single Redis, the `token.issued` record is appended by the create script
   * itself (`audit.appended` says where); on a cluster the trail lives in another slot, so the
   * caller appends it after the create, before answering.
   */
  async create(s: Session, nowMs: number, startedMs: number, audit?: AuditAppend): Promise<CreateOutcome> {
    assertStorable(s);
    const k = this.#keys;
    const holders = agentsOf(s);
    const named = agentsNamedBy(s);
    const indexes = this.#indexKeys(s, holders);
    const prune = this.#creates++ % INDEX_PRUNE_EVERY === 0 ? '1' : '0';
    const expMs = s.exp * MS_PER_EXP_UNIT;
    const treeKeys = lua.CREATE_KEYS.build({
      sessionKey: k.session(s.sid), childrenKey: s.parent ? k.children(s.parent) : k.session(s.sid), tombstoneKey: k.revoked(s.sid),
    });
    const inScript = audit !== undefined && !this.#cluster;
    const args = (indexCount: number, namedCount: number) => [
      ...lua.CREATE_ARGS.build({
        nowMs, startedMs, expMs, sid: s.sid, tree: k.tree(s.sid), anc: s.ancestors.join(' '), prune, indexCount, namedCount,
        audit: inScript ? '1' : '0', auditBody: inScript ? audit.body : '', auditDigest: inScript ? audit.digest : '',
        auditMaxRecords: audit?.maxRecords ?? 0, auditMinTimeMs: audit?.minTimeMs ?? 0,
      }),
      ...encodeSession(s),
    ];
    if (!this.#cluster) {
      const markers = named.map((a) => k.agentKillMarker(a));
      const trail = inScript ? [k.auditStream(), k.auditHead()] : [];
      const statuses = named.map((a) => k.agentStatus(a));
      return outcomeOf(await guard(this.#create([...treeKeys, ...indexes, ...markers, ...statuses, ...trail], args(indexes.length, named.length))), audit);
    }
    // Indexes sit in other slots, on other nodes: write them first, each agent's index checking
    // that agent's marker in the same step; then the record. Any refusal undoes the entries.
    const indexArgs = lua.INDEX_ADD_ARGS.build({ nowMs, startedMs, expMs, sid: s.sid, prune });
    const add = (indexKey: string, marker: string[]) => this.#indexAdd([...lua.INDEX_ADD_KEYS.build({ indexKey }), ...marker], indexArgs);
    const adds = [
      ...holders.map((a) => add(k.agentIndex(a), [k.agentKillMarker(a), k.agentStatus(a)])),
      ...[k.subjectIndex(s.sub), k.allSessions()].map((index) => add(index, [])),
    ];
    // Holders of ancestors only: their kill reaches this session through the ancestor's tree kill,
    // which the record's own script orders against; the marker read is a second line.
    const chainOnly = named.filter((a) => !holders.includes(a));
    const marks = chainOnly.map((a) => this.#redis.get(k.agentKillMarker(a)));
    const disabledMarks = chainOnly.map((a) => this.#redis.exists(k.agentStatus(a)));
    const [added, markers, disabled] = await guard(Promise.all([Promise.all(adds), Promise.all(marks), Promise.all(disabledMarks)]));
    // An expired session's adds wrote nothing; the record's script names that refusal (or an
    // earlier one: a dead ancestor) exactly as on a single Redis, and writes nothing either.
    const outcomes = added.map((r) => outcomeOf(r));
    const refusal: CreateOutcome | undefined =
      outcomes.includes('agent_disabled') || disabled.some((d) => d === 1) ? 'agent_disabled'
        : outcomes.includes('agent_revoked') || markers.some((m) => m !== null && Number(m) >= startedMs) ? 'agent_revoked'
          : undefined;
    const outcome: CreateOutcome = refusal ?? outcomeOf(await guard(this.#create(treeKeys, args(0, 0))));
    if (outcome !== 'created') await guard(Promise.all(indexes.map((index) => this.#redis.zrem(index, s.sid))));
    return outcome;
  }

  async findByToken(sid: string, tokenHash: string, nowMs: number): Promise<Session | undefined> {
    const row = await this.#findRow(sid, tokenHash, nowMs, SESSION_READ, undefined);
    return row && decodeSession(sid, row);
  }

  async findClaimsByToken(sid: string, tokenHash: string, nowMs: number, aud?: string): Promise<TokenClaims | undefined> {
    const row = await this.#findRow(sid, tokenHash, nowMs, CLAIMS_READ, aud);
    return row && decodeClaims(sid, row);
  }

  /**
   * The row of the live session, or undefined. A root session has no ancestors to check, so one
   * HMGET answers exactly as the script would, in about a third of Redis' time; a descendant needs
   * the script, which checks every ancestor in the same atomic step. Either way a session of
   * another audience is refused before anything else is looked at or decoded.
   */
  async #findRow(sid: string, tokenHash: string, nowMs: number, read: FieldRead, aud: string | undefined): Promise<(string | null)[] | undefined> {
    const k = this.#keys;
    if (rootOf(sid) === sid) {
      const row = await guard(this.#redis.hmget(k.session(sid), ...read.fields));
      if (aud !== undefined && rawValue(read, row, 'aud') !== aud) return undefined;
      const stored = rawValue(read, row, 'tokenHash');
      if (stored === null) return undefined;
      // a root has no ancestors by construction: nothing for the ancestor check to ask
      return tokenLive({ tokenHash: stored, exp: Number(rawValue(read, row, 'exp')), ancestors: [] }, tokenHash, nowMs, () => false) ? row : undefined;
    }
    const keys = lua.FIND_KEYS.build({ sessionKey: k.session(sid) });
    const args = lua.FIND_ARGS.build({ tokenHash, nowMs, tree: k.tree(sid), read: read === CLAIMS_READ ? 'claims' : 'session', anyAud: aud === undefined ? '1' : '0', aud: aud ?? '' });
    return ((await guard(this.#find(keys, args))) as (string | null)[] | null) ?? undefined;
  }

  async subtree(sid: string, nowMs: number): Promise<Session[]> {
    const k = this.#keys;
    const reply = await guard(this.#subtree(lua.SUBTREE_KEYS.build({ sessionKey: k.session(sid) }), lua.SUBTREE_ARGS.build({ sid, nowMs, tree: k.tree(sid) })));
    const flat = reply as (string | (string | null)[])[];
    const out: Session[] = [];
    for (let i = 0; i < flat.length; i += 2) out.push(decodeSession(flat[i] as string, flat[i + 1] as (string | null)[]));
    return out;
  }

  /** Reads the index in batches and the sessions one by one (they live in other slots). */
  async list(filter: SessionFilter, nowMs: number, limit: number, order: ListOrder = 'soonest_expiry'): Promise<Session[]> {
    const k = this.#keys;
    const index = filter.agent ? k.agentIndex(filter.agent) : filter.sub ? k.subjectIndex(filter.sub) : k.allSessions();
    const out: Session[] = [];
    for (let offset = 0; out.length < limit; offset += LIST_BATCH) {
      const sids = await guard(order === 'latest_expiry'
        ? this.#redis.zrevrangebyscore(index, '+inf', `(${nowMs}`, 'LIMIT', offset, LIST_BATCH)
        : this.#redis.zrangebyscore(index, `(${nowMs}`, '+inf', 'LIMIT', offset, LIST_BATCH));
      if (sids.length === 0) break;
      const rows = await guard(Promise.all(sids.map((sid) => this.#redis.hmget(k.session(sid), ...SESSION_READ.fields))));
      const found = rows.flatMap((row, i) => (rawValue(SESSION_READ, row, 'tokenHash') === null ? [] : [decodeSession(sids[i]!, row)]));
      const live = await this.#ancestorsLive(found);
      for (const [i, s] of found.entries()) {
        if (live[i] && unexpired(s.exp, nowMs) && (!filter.sub || s.sub === filter.sub)) out.push(s);
        if (out.length === limit) break;
      }
    }
    return out;
  }

  /**
   * Whether every ancestor of each session still has its record, as a token lookup requires: a tree
   * kill removes its top at once and the descendants' records step by step, and a listing must not
   * show them alive in between. One EXISTS per delegated session (its ancestors share its slot).
   */
  async #ancestorsLive(sessions: Session[]): Promise<boolean[]> {
    const k = this.#keys;
    return guard(Promise.all(sessions.map(async (s) =>
      s.ancestors.length === 0 || (await this.#redis.exists(...s.ancestors.map((a) => k.session(a)))) === s.ancestors.length)));
  }

  /**
   * Kills a subtree: its top session in one O(1) step (which ends every descendant at once), then its
   * descendants' records in bounded walk steps. Should a step fail, the walk stays in Redis beside
   * the kill's mark and `unannounced` finishes it. Resolves the top (`top`: its index entries are the
   * caller's to drop, in bulk with others) and the descendants (`walked`: theirs already dropped).
   */
  async #revokeOne(sid: string, nowMs: number, tombstoneUntilMs: number, tag: KillTag | undefined): Promise<{ top: RemovedSession[]; walked: RemovedSession[] }> {
    const k = this.#keys;
    const keys = lua.REVOKE_KEYS.build({ sessionKey: k.session(sid), tombstoneKey: k.revoked(sid), walkKey: k.walk(sid, tag?.id ?? '') });
    const args = lua.REVOKE_ARGS.build({ sid, tree: k.tree(sid), nowMs, tombstoneUntilMs, kill: tag?.kill ?? '', reason: tag?.reason ?? '' });
    const top: RemovedSession[] = [];
    const walked: RemovedSession[] = [];
    const pending = decodeRemoved(await guard(this.#revoke(keys, args)), top);
    const root = rootOf(sid);
    if (pending === WALK_MORE) {
      await this.#walkAll(root, tag?.id ?? '', { clock: movingClock(nowMs), staleBeforeMs: 0, mark: tag && markOf(root, tag) }, walked);
    }
    return { top, walked };
  }

  /**
   * Takes walk steps until the walk is done, collecting what they remove; each step's index entries
   * are dropped while the next step runs (a failed drop fails the walk). Each step is stamped with
   * the time `clock` says, and so is the kill's `mark` when given: a long kill keeps saying it is
   * alive, and no sweep takes it for one that stopped. With `staleBeforeMs`, resolves false, with
   * nothing done, when a live kill has the walk (checked at the first step only: after that the
   * walk is this caller's).
   */
  async #walkAll(root: string, killId: string, { clock, staleBeforeMs, mark }: WalkOptions, removed: RemovedSession[]): Promise<boolean> {
    const k = this.#keys;
    const keys = lua.WALK_KEYS.build({ walkKey: k.walk(root, killId) });
    const drops: Promise<void>[] = [];
    for (let stale = staleBeforeMs; ; stale = 0) {
      const atMs = clock();
      const args = lua.WALK_ARGS.build({ tree: k.tree(root), nowMs: atMs, budget: WALK_STEP, staleBeforeMs: stale });
      const [reply] = await guard(Promise.all([this.#walk(keys, args), mark && this.#redis.zadd(k.unannounced(), 'XX', atMs, mark)]));
      const from = removed.length;
      const state = decodeRemoved(reply, removed);
      if (removed.length > from) {
        const drop = this.#dropIndexEntries(removed.slice(from));
        drop.catch(() => {}); // awaited below; a step failing first must not leave it unhandled
        drops.push(drop);
      }
      if (state !== WALK_MORE) {
        await Promise.all(drops);
        return state === WALK_DONE;
      }
    }
  }

  /** Index entries of killed sessions, dropped after the kill (a stale entry is harmless, never live). */
  async #dropIndexEntries(removed: RemovedSession[]): Promise<void> {
    const byIndex = new Map<string, string[]>();
    for (const r of removed) {
      for (const index of this.#indexKeys(r, agentsOf(r))) {
        const sids = byIndex.get(index);
        if (sids) sids.push(r.sid);
        else byIndex.set(index, [r.sid]);
      }
    }
    await this.#zremAll(byIndex);
  }

  async #zremAll(byIndex: Map<string, string[]>): Promise<void> {
    const chunks: [string, string[]][] = [];
    for (const [index, sids] of byIndex) {
      for (let i = 0; i < sids.length; i += ZREM_CHUNK) chunks.push([index, sids.slice(i, i + ZREM_CHUNK)]);
    }
    await guard(inWindows(chunks, BULK_WINDOW, ([index, sids]) => this.#redis.zrem(index, ...sids)));
  }

  async revokeTree(sid: string, nowMs: number, tag?: KillTag): Promise<RemovedSession[]> {
    const roots = [rootOf(sid)];
    if (tag) await this.#mark(roots, tag, nowMs);
    const { top, walked } = await this.#revokeOne(sid, nowMs, 0, tag);
    const removed = [...top, ...walked];
    if (tag && removed.length === 0) await this.#unmark(roots, tag);
    await this.#dropIndexEntries(top);
    return removed;
  }

  /**
   * Marks the agent first, so a create that has not yet written its index entry is refused (it
   * checks the marker in the same step as the entry), then kills the subtree of every session in
   * the agent's index. Each subtree kill is atomic in its own slot and tombstones its sid until the
   * entry's expiry, so a session whose index entry was already written but whose record was not
   * yet stored can never appear afterwards.
   */
  async revokeAgent(agentId: string, nowMs: number, tag?: KillTag): Promise<RemovedSession[]> {
    const k = this.#keys;
    const markKeys = lua.MARK_KEYS.build({ markerKey: k.agentKillMarker(agentId) });
    await guard(this.#markKilled(markKeys, lua.MARK_ARGS.build({ marker: agentKillMarker(nowMs), ttlMs: AGENT_KILL_MARKER_TTL_MS })));
    const index = k.agentIndex(agentId);
    const entries = await guard(this.#redis.zrange(index, '0', '-1', 'WITHSCORES'));
    const sids: string[] = [];
    const untils: number[] = [];
    for (let i = 0; i < entries.length; i += 2) {
      sids.push(entries[i]!);
      untils.push(Number(entries[i + 1]));
    }
    const roots = [...new Set(sids.map(rootOf))];
    if (tag) await this.#mark(roots, tag, nowMs);
    // Bounded: thousands of scripts in flight at once would each wait behind the others and run
    // into the per-command timeout; a window keeps every command short and the whole kill fast.
    const removed: RemovedSession[] = [];
    const tops: RemovedSession[] = [];
    const kills = await inWindows(sids.map((sid, i) => [sid, untils[i]!] as const), KILL_WINDOW, ([sid, until]) => this.#revokeOne(sid, nowMs, until, tag));
    for (const { top, walked } of kills) {
      removed.push(...top, ...walked);
      tops.push(...top);
    }
    if (tag) {
      const filled = new Set(removed.map((r) => rootOf(r.sid)));
      await this.#unmark(roots.filter((root) => !filled.has(root)), tag);
    }
    await this.#dropIndexEntries(tops);
    await this.#zremAll(new Map([[index, sids]]));
    return removed;
  }

  /** Before a tagged kill: its trees are findable as unannounced (a kill that dies midway is still found). */
  async #mark(roots: string[], tag: KillTag, nowMs: number): Promise<void> {
    const key = this.#keys.unannounced();
    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < roots.length; i += ZREM_CHUNK) {
      calls.push(this.#redis.zadd(key, ...roots.slice(i, i + ZREM_CHUNK).flatMap((root) => [nowMs, markOf(root, tag)])));
    }
    // every mark outlives the sessions it may point to; a later mark only moves the expiry later
    calls.push(this.#redis.pexpire(key, UNANNOUNCED_KEEP_MS));
    await guard(Promise.all(calls));
  }

  async #unmark(roots: string[], tag: KillTag): Promise<void> {
    if (roots.length) await this.#zremAll(new Map([[this.#keys.unannounced(), roots.map((root) => markOf(root, tag))]]));
  }

  async announced(removed: RemovedSession[], tag: KillTag): Promise<void> {
    const byRoot = new Map<string, string[]>();
    for (const r of removed) {
      const root = rootOf(r.sid);
      const sids = byRoot.get(root);
      if (sids) sids.push(r.sid);
      else byRoot.set(root, [r.sid]);
    }
    await this.#settle([...byRoot].map(([root, sids]) => ({ root, sids, marks: [markOf(root, tag)] })));
  }

  async unannounced(beforeMs: number, limit: number): Promise<UnannouncedTree[]> {
    const marks = await guard(this.#redis.zrangebyscore(this.#keys.unannounced(), '-inf', `(${beforeMs}`, 'LIMIT', 0, limit));
    const byRoot = new Map<string, string[]>();
    for (const mark of marks) {
      const root = mark.slice(0, mark.indexOf(MARK_SEPARATOR));
      byRoot.set(root, [...(byRoot.get(root) ?? []), mark]);
    }
    const roots = await this.#finishWalks(byRoot, beforeMs);
    const outboxes = await guard(Promise.all(roots.map((root) => this.#redis.hgetall(this.#keys.outbox(root)))));
    return roots.map((root, i) => ({
      root, marks: byRoot.get(root)!, sessions: Object.values(outboxes[i]!).map((json) => JSON.parse(json) as UnannouncedSession),
    }));
  }

  /**
   * Finishes the walks of kills that stopped midway (a step failed, or the process died), so their
   * outboxes are whole before they are read; their index entries are dropped as the kill's would be.
   * A tree one of whose walks a live kill still has is left for a later drain. Resolves the roots to read.
   * Trees go BULK_WINDOW at a time: the walks of many kills cut by one outage must not all queue at once.
   */
  async #finishWalks(byRoot: Map<string, string[]>, beforeMs: number): Promise<string[]> {
    const ready = await inWindows([...byRoot], BULK_WINDOW, async ([root, marks]) => {
      for (const mark of marks) {
        if (!(await this.#walkAll(root, killIdOf(mark), { clock: movingClock(beforeMs), staleBeforeMs: beforeMs }, []))) return undefined;
      }
      return root;
    });
    return ready.filter((root): root is string => root !== undefined);
  }

  async forgetAnnounced(trees: UnannouncedTree[]): Promise<void> {
    await this.#settle(trees.map((t) => ({ root: t.root, sids: t.sessions.map((s) => s.sid), marks: t.marks })));
  }

  /**
   * The outbox entries leave first, then the marks: a mark never disappears while its tree still
   * waits. A large tree's outbox is cleared in chunks (ZREM_CHUNK sids per script).
   */
  async #settle(trees: { root: string; sids: string[]; marks: string[] }[]): Promise<void> {
    const chunks = trees.flatMap((t) => {
      const keys = lua.ANNOUNCED_KEYS.build({ outboxKey: this.#keys.outbox(t.root) });
      return Array.from({ length: Math.ceil(t.sids.length / ZREM_CHUNK) }, (_, i) => ({ keys, sids: t.sids.slice(i * ZREM_CHUNK, (i + 1) * ZREM_CHUNK) }));
    });
    await guard(inWindows(chunks, BULK_WINDOW, (c) => this.#announced(c.keys, c.sids)));
    await this.#zremAll(new Map([[this.#keys.unannounced(), trees.flatMap((t) => t.marks)]]));
  }

  async wasKilled(sid: string, _nowMs: number): Promise<boolean> {
    // the set expires with its longest-lived member; a member past its own expiry is only a stale yes for an expired token
    return (await guard(this.#redis.sismember(this.#keys.killed(sid), sid))) === 1;
  }

  async setAgentDisabled(agentId: string, disabled: boolean): Promise<void> {
    const key = this.#keys.agentStatus(agentId);
    if (disabled) await guard(this.#redis.set(key, 'disabled'));
    else await guard(this.#redis.del(key));
  }

  async enableAgent(agentId: string, nowMs: number): Promise<void> {
    const k = this.#keys;
    await guard(this.#enable(lua.ENABLE_KEYS.build({ statusKey: k.agentStatus(agentId), markerKey: k.agentKillMarker(agentId) }), lua.ENABLE_ARGS.build({ nowMs })));
  }

  async useOnce(space: ReplaySpace, id: string, expiresAtMs: number, nowMs: number): Promise<boolean> {
    const ttlMs = Math.max(expiresAtMs - nowMs, 1);
    return (await guard(this.#redis.set(this.#keys.usedOnce(space, id), '1', 'PX', ttlMs, 'NX'))) === 'OK';
  }

  /** ZCOUNT of the all-sessions index by expiry: O(log n); a killed session's entry is dropped right after its kill. */
  async countLive(nowMs: number): Promise<number> {
    return guard(this.#redis.zcount(this.#keys.allSessions(), `(${nowMs}`, '+inf'));
  }

  async ping(): Promise<void> {
    await guard(this.#redis.ping());
  }

  async close(): Promise<void> {
    this.#redis.disconnect();
  }
}
