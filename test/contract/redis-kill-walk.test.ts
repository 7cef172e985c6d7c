import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { StoreUnavailableError } from '../../src/errors.js';
import type { KillTag, Session, SessionStore } from '../../src/store/index.js';
import { MARK_SEPARATOR, redisKeys, TREE_KEY, type RedisKeys } from '../../src/store/keys.js';
import { connectRedis, type RedisClient } from '../../src/store/redis/connect.js';
import { RedisSessionStore, WALK_STEP } from '../../src/store/redis/session-store.js';
import { testRedisUrl } from '../helpers/sts.js';
import { makeChild, makeRoot, randomId } from './session-store.contract.js';

/**
 * Issue 25: a tree kill ends the whole subtree in one O(1) step (the top's record; every descendant
 * requires it), then removes the descendants' records in walk steps of at most WALK_STEP, so a kill
 * of any size never holds Redis for long. These tests cut the kill at each step boundary and check
 * what every instance sees in between, and that the outbox sweep finishes the walk.
 */
const WALK_SCRIPT = 'stsRevokeWalk';
/** A parent with more children than one walk step takes: it stays on the walk across steps. */
const WIDE = WALK_STEP + 500;
const DEEP = 4;
const CREATE_WINDOW = 500;

/** Walk steps the store ran, how many sessions each reply carried, and a cut: steps from `failFrom` on fail as a lost connection. */
interface WalkTap { steps: number[]; failFrom: number }

async function connect(): Promise<RedisClient> {
  const client = connectRedis({ url: testRedisUrl(), commandTimeoutMs: 5_000 });
  client.on('error', () => {});
  await client.connect();
  return client;
}

/** A store whose walk steps pass through `tap` (the script is bound once, when the store defines it). */
function tappedStore(client: RedisClient, keys: RedisKeys, tap: WalkTap): RedisSessionStore {
  const tapped = new Proxy(client, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (prop !== WALK_SCRIPT || typeof value !== 'function') return typeof value === 'function' ? value.bind(target) : value;
      return async (...args: unknown[]) => {
        if (tap.steps.length >= tap.failFrom) throw new Error('Connection is closed.');
        const reply = (await (value as (...a: unknown[]) => Promise<unknown[]>).apply(target, args));
        tap.steps.push((reply.length - 1) / 2);
        return reply;
      };
    },
  });
  return new RedisSessionStore(tapped, keys);
}

/** Reads and writes Redis directly, beside the stores. */
let raw: RedisClient;
beforeAll(async () => {
  raw = await connect();
});
afterAll(() => {
  raw.disconnect();
});

describe('redis store: a tree kill walks the subtree in bounded steps', () => {
  const now = () => Date.now();
  let prefix: string;
  let keys: RedisKeys;
  let tap: WalkTap;
  let killer: RedisSessionStore;
  /** Another instance on the same Redis, its connection untouched by the cut. */
  let other: RedisSessionStore;
  let tree: Session[];

  beforeEach(async () => {
    prefix = `test:walk:${randomBytes(6).toString('hex')}:`;
    keys = redisKeys(prefix);
    tap = { steps: [], failFrom: Infinity };
    killer = tappedStore(await connect(), keys, tap);
    other = new RedisSessionStore(await connect(), keys);
    // root → wide (WIDE children) and a chain of DEEP below a second child
    const root = makeRoot();
    const wide = makeChild(root);
    const chain = [makeChild(root)];
    for (let i = 1; i < DEEP; i++) chain.push(makeChild(chain.at(-1)!));
    tree = [root, wide, ...chain, ...Array.from({ length: WIDE }, () => makeChild(wide))];
    for (let i = 0; i < tree.length; i += CREATE_WINDOW) {
      const created = await Promise.all(tree.slice(i, i + CREATE_WINDOW).map((s) => other.create(s, now(), now())));
      expect(created.every((o) => o === 'created')).toBe(true);
    }
  });
  afterEach(async () => {
    await killer.close();
    await other.close();
    const left = await raw.keys(`${prefix}*`);
    if (left.length) await raw.del(...left);
  });

  const tagOf = (kill: string): KillTag => ({ id: randomId('k'), kill, reason: 'admin' });
  const sids = (list: { sid: string }[]) => list.map((s) => s.sid).sort();
  const root = () => tree[0]!;
  /** Keys of the tree besides what a finished kill keeps on purpose (its tombstone and killed set). */
  const treeKeysLeft = async () =>
    (await raw.keys(`${keys.tree(root().sid)}*`)).filter((k) => !k.includes(`}:${TREE_KEY.revoked}`) && k !== keys.killed(root().sid)).sort();

  /** What any instance sees of the tree: nothing findable, listable or extendable. */
  async function expectAllDead(store: SessionStore): Promise<void> {
    const t = now();
    const found = await Promise.all(tree.map((s) => store.findClaimsByToken(s.sid, s.tokenHash, t)));
    expect(found.filter((f) => f !== undefined)).toEqual([]);
    expect(await store.subtree(tree[1]!.sid, t)).toEqual([]);
    expect(await store.list({ agent: root().agent }, t, WIDE + 10)).toEqual([]);
    expect(await store.create(makeChild(tree.at(-1)!), t, t)).toBe('ancestor_revoked');
  }

  it(`removes all ${WIDE + DEEP + 2} sessions in steps of at most ${WALK_STEP}, answering each one once, and leaves no walk behind`, async () => {
    const t = now();
    const tag = tagOf('req-whole');
    const removed = await killer.revokeTree(root().sid, t, tag);
    expect(sids(removed)).toEqual(sids(tree));
    expect(tap.steps.length).toBeGreaterThanOrEqual(Math.ceil((tree.length - 1) / WALK_STEP));
    expect(Math.max(...tap.steps)).toBeLessThanOrEqual(WALK_STEP);
    await killer.announced(removed, tag);
    expect(await treeKeysLeft()).toEqual([]);
    expect(await other.countLive(t)).toBe(0);
    expect(await raw.zcard(keys.unannounced())).toBe(0);
  });

  describe.each([
    ['before the first walk step (only the top removed)', 0],
    ['after one walk step (midway)', 1],
  ])('cut %s', (_name, failFrom) => {
    it('the kill answers 503; every instance sees the whole subtree dead at once; the sweep finishes the walk and announces every session once', async () => {
      tap.failFrom = failFrom;
      const t = now();
      const tag = tagOf('req-cut');
      await expect(killer.revokeTree(root().sid, t, tag)).rejects.toBeInstanceOf(StoreUnavailableError);
      expect(tap.steps).toHaveLength(failFrom);
      // the walk and the kill's mark wait in Redis for the sweep
      expect(await raw.exists(keys.walk(root().sid, tag.id))).toBe(1);
      expect(await raw.zrange(keys.unannounced(), '0', '-1')).toEqual([`${root().sid}${MARK_SEPARATOR}${tag.id}`]);
      await expectAllDead(other);
      await expectAllDead(killer);

      // the kill stamps its mark with each step it took: the sweep looks from just after the last
      const after = now() + 1;
      const [waiting, ...more] = await other.unannounced(after, 100);
      expect(more).toEqual([]);
      expect(waiting!.root).toBe(root().sid);
      expect(sids(waiting!.sessions)).toEqual(sids(tree));
      expect(new Set(waiting!.sessions.map((s) => `${s.kill} ${s.reason}`))).toEqual(new Set(['req-cut admin']));
      expect(await raw.exists(keys.walk(root().sid, tag.id))).toBe(0);
      // each walk step's index entries are dropped as it goes, by the kill and then by the sweep; the
      // top's, which the kill drops last, stays until it expires, as when a kill dies before its
      // clean-up (never listed: its record is gone)
      expect(await other.countLive(t)).toBe(1);
      await other.forgetAnnounced([waiting!]);
      expect(await other.unannounced(after, 100)).toEqual([]);
      expect(await treeKeysLeft()).toEqual([]);
      await expectAllDead(other);
    });
  });

  it("the sweep leaves a walk whose last step is recent (a live kill has it) and finishes it once that step is old", async () => {
    tap.failFrom = 1;
    const t = now();
    const tag = tagOf('req-live');
    await expect(killer.revokeTree(root().sid, t, tag)).rejects.toBeInstanceOf(StoreUnavailableError);
    const walkKey = keys.walk(root().sid, tag.id);
    const header = JSON.parse((await raw.lindex(walkKey, 0))!) as { at: number };
    // a kill still walking stamps each step: say its last one was 10 s after the kill began
    await raw.lset(walkKey, 0, JSON.stringify({ ...header, at: t + 10_000 }));
    const length = await raw.llen(walkKey);
    expect(await other.unannounced(t + 10_000, 100)).toEqual([]);
    expect(await raw.llen(walkKey)).toBe(length);
    const [waiting] = await other.unannounced(t + 10_001, 100);
    expect(sids(waiting!.sessions)).toEqual(sids(tree));
  });
});
