/**
 * The store contract: every SessionStore + ReplayStore implementation must pass this same suite.
 * A test file calls `sessionStoreContract(name, factory)`; each test gets a fresh, empty store.
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import {
  AGENT_KILL_CLOCK_SKEW_MS, KILLED_SESSION_FIELDS, killedSession, rootOf, type Actor, type RemovedSession, type ReplayStore, type Session, type SessionStore,
} from '../../src/store/index.js';
import { USED_ONCE_SPACES, type ReplaySpace } from '../../src/store/keys.js';
import { sleep } from '../helpers/wait.js';

export interface ContractStore {
  store: SessionStore & ReplayStore;
  /** Everything the store holds, in a comparable form, to prove a refusal wrote nothing. */
  snapshot: () => Promise<string[]>;
  /**
   * true when single-use ids expire on the wall clock (Redis TTL): the suite then uses a short expiry
   * and waits; false when `nowMs` decides (memory store): the suite passes a later nowMs instead.
   */
  wallClockReplayExpiry: boolean;
  close(): Promise<void>;
}

export const API = 'https://api.example.com';

/** The 10,000-session tree's two kills take 20,000 creates: ~7 s alone on a cluster, more with the suite in parallel. */
const BIG_TREE_TIMEOUT_MS = 60_000;

/** Every kind of single-use id: the replay contract runs once for each. */
const SPACES = Object.keys(USED_ONCE_SPACES) as ReplaySpace[];

export function randomId(tag: string): string {
  return `${tag}-${randomBytes(6).toString('hex')}`;
}

/** Session ids as the service makes them: a root id, and `<root>.<id>` for every descendant. */
const newSid = () => randomBytes(12).toString('base64url');

export function hashOf(s: string): string {
  return createHash('sha256').update(s).digest('base64url');
}

/** Builders for sessions as the service would store them; expiry relative to the real clock. */
export function makeRoot(over: Partial<Session> = {}): Session {
  const sid = over.sid ?? newSid();
  const nowS = Math.floor(Date.now() / 1000);
  return {
    sid,
    ancestors: [],
    chain: [],
    depth: 0,
    maxDepth: 3,
    agent: 'agent-a',
    sub: 'agent-a',
    aud: API,
    scope: ['invoices:write', 'invoices:read', 'a:z'],
    iat: nowS,
    exp: nowS + 600,
    jti: randomId('jti'),
    tokenHash: hashOf(`token-of-${sid}`),
    ...over,
  };
}

/** A child of `parent`: same agent (narrowing) unless `over.agent` says otherwise; act as given. */
export function makeChild(parent: Session, over: Partial<Session> = {}): Session {
  const sid = over.sid ?? `${rootOf(parent.sid)}.${newSid()}`;
  const act = 'act' in over ? over.act : parent.act;
  const base: Session = {
    sid,
    parent: parent.sid,
    ancestors: [...parent.ancestors, parent.sid],
    chain: [...parent.chain, parent.agent],
    depth: parent.depth + 1,
    maxDepth: parent.maxDepth,
    agent: parent.agent,
    sub: parent.sub,
    aud: parent.aud,
    scope: [...parent.scope],
    iat: parent.iat,
    exp: parent.exp,
    jti: randomId('jti'),
    tokenHash: hashOf(`token-of-${sid}`),
  };
  const merged: Session = { ...base, ...over };
  delete merged.act;
  return act ? { ...merged, act } : merged;
}

/** A delegation to `agent`: nested act naming it, the previous actors inside (RFC 8693 §4.1). */
export function makeDelegated(parent: Session, agent: string, over: Partial<Session> = {}): Session {
  const act: Actor = { sub: agent, ...(parent.act ? { act: parent.act } : {}) };
  return makeChild(parent, { agent, act, ...over });
}

/**
 * Every kind of write a store makes, and the refusals that must write nothing: creates (root,
 * delegated, on-behalf-of), a used single-use id, refused creates (dead ancestor, agent kill
 * marker, already expired), a create with a non-integer exp replayed 20 times, and both kills.
 * The Redis suites then check that no key of the prefix lacks a TTL.
 */
export async function exerciseEveryWrite(store: SessionStore & ReplayStore): Promise<void> {
  const t = Date.now();
  const nowS = Math.floor(t / 1000);
  const root = makeRoot();
  const child = makeDelegated(root, 'agent-b');
  const grandchild = makeDelegated(child, 'agent-c');
  const obo = makeRoot({ agent: 'agent-b', sub: 'user-1', act: { sub: 'agent-b' } });
  const other = makeRoot({ agent: 'agent-d', sub: 'agent-d' });
  for (const s of [root, child, grandchild, obo, other]) expect(await store.create(s, t, t)).toBe('created');
  expect(await store.useOnce('client-assertion', randomId('jti'), t + 60_000, t)).toBe(true);
  expect(await store.useOnce('dpop-proof', randomId('jti'), t + 60_000, t)).toBe(true);
  expect(await store.revokeTree(child.sid, t)).toHaveLength(2);
  expect(await store.create(makeChild(child), t, t)).toBe('ancestor_revoked');
  expect(await store.revokeAgent('agent-d', t)).toHaveLength(1);
  expect(await store.create(makeRoot({ agent: 'agent-d', sub: 'agent-d' }), t, t)).toBe('agent_revoked');
  expect(await store.create(makeRoot({ exp: nowS - 1 }), t, t)).toBe('expired');
  const bad = makeRoot({ exp: nowS + 200.123456 });
  for (let i = 0; i < 20; i++) await expect(store.create(bad, t, t)).rejects.toThrow(/must be an integer/);
  expect(await store.revokeAgent('agent-nobody', t)).toEqual([]);
  // a tagged kill left unannounced: its outbox and mark must expire too
  const tagged = makeRoot({ agent: 'agent-e', sub: 'agent-e' });
  expect(await store.create(tagged, t, t)).toBe('created');
  expect(await store.revokeAgent('agent-e', t, { id: randomId('kill'), kill: 'req-1', reason: 'admin' })).toHaveLength(1);
  await store.enableAgent('agent-e', t);
}

export function sessionStoreContract(name: string, factory: () => Promise<ContractStore>): void {
  describe(`${name} store: SessionStore + ReplayStore contract`, () => {
    let ctx: ContractStore;
    let store: SessionStore & ReplayStore;
    const now = () => Date.now();
    const snapshot = () => ctx.snapshot();

    beforeEach(async () => {
      ctx = await factory();
      store = ctx.store;
    });
    afterEach(async () => {
      await ctx.close();
    });

    async function createAll(...sessions: Session[]): Promise<void> {
      for (const s of sessions) expect(await store.create(s, now(), now())).toBe('created');
    }

    /** Whether the session is found; both lookups (full and claims-only) must agree every time. */
    async function findable(s: Session, nowMs = now()): Promise<boolean> {
      const full = await store.findByToken(s.sid, s.tokenHash, nowMs);
      const claims = await store.findClaimsByToken(s.sid, s.tokenHash, nowMs);
      expect(claims === undefined).toBe(full === undefined);
      return full !== undefined;
    }

    const claimsOf = ({ sid, agent, sub, act, aud, scope, iat, exp, jti, chain }: Session) => ({ sid, agent, sub, ...(act ? { act } : {}), aud, scope, iat, exp, jti, chain });

    describe('create + findByToken', () => {
      it('returns a root session field for field: scope order kept, no parent, no act', async () => {
        const root = makeRoot({ scope: ['z:last', 'a:first', 'm:middle'] });
        expect(await store.create(root, now(), now())).toBe('created');
        const found = await store.findByToken(root.sid, root.tokenHash, now());
        expect(found).toStrictEqual(root);
        expect(found).not.toHaveProperty('parent');
        expect(found).not.toHaveProperty('act');
        expect(found!.scope).toEqual(['z:last', 'a:first', 'm:middle']);
      });

      it('returns an on-behalf-of root (sub = user, act = agent) field for field', async () => {
        const root = makeRoot({ agent: 'agent-a', sub: 'user-42', act: { sub: 'agent-a' } });
        await createAll(root);
        expect(await store.findByToken(root.sid, root.tokenHash, now())).toStrictEqual(root);
      });

      it('returns a delegated grandchild field for field: ancestors root first, act nested two deep', async () => {
        const root = makeRoot({ maxDepth: 2 });
        const child = makeDelegated(root, 'agent-b', { scope: ['invoices:read', 'a:z'], exp: root.exp - 10, maxDepth: 2 });
        const grandchild = makeDelegated(child, 'agent-c', { scope: ['a:z'], exp: root.exp - 20, maxDepth: 2 });
        await createAll(root, child, grandchild);
        const found = await store.findByToken(grandchild.sid, grandchild.tokenHash, now());
        expect(found).toStrictEqual(grandchild);
        expect(found!.parent).toBe(child.sid);
        expect(found!.ancestors).toEqual([root.sid, child.sid]);
        expect(found!.depth).toBe(2);
        expect(found!.act).toEqual({ sub: 'agent-c', act: { sub: 'agent-b' } });
        expect(await store.findByToken(child.sid, child.tokenHash, now())).toStrictEqual(child);
      });

      it('a same-agent narrowing child keeps the parent act unchanged', async () => {
        const root = makeRoot();
        const delegated = makeDelegated(root, 'agent-b');
        const narrowed = makeChild(delegated, { scope: ['a:z'] });
        await createAll(root, delegated, narrowed);
        const found = await store.findByToken(narrowed.sid, narrowed.tokenHash, now());
        expect(found).toStrictEqual(narrowed);
        expect(found!.act).toEqual({ sub: 'agent-b' });
        expect(found!.agent).toBe('agent-b');
      });

      it('findClaimsByToken answers the claims of roots, on-behalf-of roots and delegated grandchildren; nothing for a wrong hash', async () => {
        const root = makeRoot({ maxDepth: 2, scope: ['z:last', 'a:first'] });
        const obo = makeRoot({ agent: 'agent-a', sub: 'user-42', act: { sub: 'agent-a' } });
        const child = makeDelegated(root, 'agent-b', { scope: ['a:first'], exp: root.exp - 10, maxDepth: 2 });
        const grandchild = makeDelegated(child, 'agent-c', { scope: ['a:first'], exp: root.exp - 20, maxDepth: 2 });
        await createAll(root, obo, child, grandchild);
        for (const s of [root, obo, child, grandchild]) {
          const claims = await store.findClaimsByToken(s.sid, s.tokenHash, now());
          expect(claims).toMatchObject(claimsOf(s));
          if (!s.act) expect(claims).not.toHaveProperty('act');
        }
        expect(await store.findClaimsByToken(root.sid, hashOf('another token'), now())).toBeUndefined();
        expect(await store.findClaimsByToken(randomId('nope'), root.tokenHash, now())).toBeUndefined();
      });

      it("findClaimsByToken with the caller's audience: its own tokens answer, another audience's live tokens are a miss", async () => {
        const root = makeRoot();
        const child = makeDelegated(root, 'agent-b', { aud: 'https://other.example.com' });
        const grandchild = makeDelegated(child, 'agent-c');
        await createAll(root, child, grandchild);
        expect(await store.findClaimsByToken(root.sid, root.tokenHash, now(), API)).toMatchObject(claimsOf(root));
        expect(await store.findClaimsByToken(child.sid, child.tokenHash, now(), 'https://other.example.com')).toMatchObject(claimsOf(child));
        expect(await store.findClaimsByToken(grandchild.sid, grandchild.tokenHash, now(), 'https://other.example.com')).toMatchObject(claimsOf(grandchild));
        for (const s of [root, child, grandchild]) {
          expect(await store.findClaimsByToken(s.sid, s.tokenHash, now(), 'https://third.example.com')).toBeUndefined();
          expect(await store.findClaimsByToken(s.sid, s.tokenHash, now(), '')).toBeUndefined();
          // without an audience (revocation: the caller is the holder, not an audience) any live token answers
          expect(await store.findClaimsByToken(s.sid, s.tokenHash, now())).toMatchObject(claimsOf(s));
        }
        expect(await store.findClaimsByToken(root.sid, root.tokenHash, now(), 'https://other.example.com')).toBeUndefined();
        expect(await store.findClaimsByToken(child.sid, child.tokenHash, now(), API)).toBeUndefined();
        // the audience never makes a dead token answer
        await store.revokeTree(child.sid, now());
        expect(await store.findClaimsByToken(grandchild.sid, grandchild.tokenHash, now(), 'https://other.example.com')).toBeUndefined();
      });

      it('a wrong token hash finds nothing', async () => {
        const root = makeRoot();
        await createAll(root);
        expect(await store.findByToken(root.sid, hashOf('another token'), now())).toBeUndefined();
        expect(await store.findByToken(root.sid, '', now())).toBeUndefined();
      });

      it('an unknown sid finds nothing', async () => {
        const root = makeRoot();
        await createAll(root);
        expect(await store.findByToken(randomId('nope'), root.tokenHash, now())).toBeUndefined();
      });

      it('an expired session is not found: live until exp, dead from exp on', async () => {
        const root = makeRoot();
        await createAll(root);
        expect(await findable(root, root.exp * 1000 - 1)).toBe(true);
        expect(await findable(root, root.exp * 1000)).toBe(false);
        expect(await findable(root, root.exp * 1000 + 60_000)).toBe(false);
      });

      it('a live child whose root has expired is not found', async () => {
        const root = makeRoot();
        const child = makeChild(root, { exp: root.exp + 300 });
        await createAll(root, child);
        expect(await findable(child, root.exp * 1000 - 1)).toBe(true);
        expect(await findable(child, root.exp * 1000 + 1)).toBe(false);
      });
    });

    describe('create under ancestors (check-and-create)', () => {
      it('a child under a live parent is stored and findable', async () => {
        const root = makeRoot();
        const child = makeChild(root);
        expect(await store.create(root, now(), now())).toBe('created');
        expect(await store.create(child, now(), now())).toBe('created');
        expect(await findable(child)).toBe(true);
        expect((await store.subtree(root.sid, now())).map((s) => s.sid)).toEqual([root.sid, child.sid]);
      });

      it('a child under a revoked parent is refused and nothing is written', async () => {
        const root = makeRoot();
        const child = makeChild(root);
        await createAll(root);
        expect(await store.revokeTree(root.sid, now())).toHaveLength(1);
        const before = await snapshot();
        expect(await store.create(child, now(), now())).toBe('ancestor_revoked');
        expect(await snapshot()).toEqual(before);
        expect(await findable(child)).toBe(false);
        expect(await store.list({}, now(), 100)).toEqual([]);
        expect(await store.list({ agent: child.agent }, now(), 100)).toEqual([]);
        expect(await store.subtree(child.sid, now())).toEqual([]);
      });

      it('a great-grandchild under a revoked grandparent is refused and nothing is written', async () => {
        const root = makeRoot();
        const child = makeChild(root);
        const grandchild = makeChild(child);
        await createAll(root, child, grandchild);
        expect(await store.revokeTree(child.sid, now())).toHaveLength(2);
        const before = await snapshot();
        const ggc = makeChild(grandchild);
        expect(await store.create(ggc, now(), now())).toBe('ancestor_revoked');
        expect(await snapshot()).toEqual(before);
        expect(await findable(ggc)).toBe(false);
        expect((await store.list({}, now(), 100)).map((s) => s.sid)).toEqual([root.sid]);
        expect((await store.subtree(root.sid, now())).map((s) => s.sid)).toEqual([root.sid]);
      });

      it('a child whose parent is live but whose root has expired is refused and nothing is written', async () => {
        const root = makeRoot();
        const child = makeChild(root, { exp: root.exp + 300 });
        await createAll(root, child);
        const later = root.exp * 1000 + 1_000;
        const before = await snapshot();
        const grandchild = makeChild(child);
        expect(await store.create(grandchild, later, later)).toBe('ancestor_revoked');
        expect(await snapshot()).toEqual(before);
        expect(await findable(grandchild)).toBe(false);
        expect(await findable(grandchild, later)).toBe(false);
        expect((await store.list({}, now(), 100)).map((s) => s.sid).sort()).toEqual([root.sid, child.sid].sort());
      });

      it('a child under an expired parent is refused and nothing is written', async () => {
        const root = makeRoot();
        await createAll(root);
        const before = await snapshot();
        const child = makeChild(root);
        expect(await store.create(child, root.exp * 1000, root.exp * 1000)).toBe('ancestor_revoked');
        expect(await snapshot()).toEqual(before);
        expect(await findable(child)).toBe(false);
        expect((await store.list({}, now(), 100)).map((s) => s.sid)).toEqual([root.sid]);
      });

      it('a child under a parent that never existed is refused and nothing is written', async () => {
        const ghost = makeRoot();
        const before = await snapshot();
        const child = makeChild(ghost);
        expect(await store.create(child, now(), now())).toBe('ancestor_revoked');
        expect(await snapshot()).toEqual(before);
        expect(await findable(child)).toBe(false);
        expect(await store.list({}, now(), 100)).toEqual([]);
      });
    });

    describe('revokeTree', () => {
      /** root ─┬─ a ─┬─ a1 ── a1x
       *        │     └─ a2
       *        └─ b ── b1 */
      async function tree() {
        const root = makeRoot();
        const a = makeDelegated(root, 'agent-b');
        const b = makeChild(root);
        const a1 = makeDelegated(a, 'agent-c');
        const a2 = makeChild(a);
        const a1x = makeChild(a1);
        const b1 = makeChild(b);
        await createAll(root, a, b, a1, a2, a1x, b1);
        return { root, a, b, a1, a2, a1x, b1 };
      }

      it('kills exactly the subtree (3 levels) and returns how many live sessions died', async () => {
        const t = await tree();
        expect(await store.revokeTree(t.a.sid, now())).toHaveLength(4);
        for (const s of [t.a, t.a1, t.a2, t.a1x]) expect(await findable(s)).toBe(false);
        for (const s of [t.root, t.b, t.b1]) expect(await findable(s)).toBe(true);
        expect((await store.subtree(t.root.sid, now())).map((s) => s.sid)).toEqual([t.root.sid, t.b.sid, t.b1.sid]);
        expect((await store.list({}, now(), 100)).map((s) => s.sid).sort()).toEqual([t.root.sid, t.b.sid, t.b1.sid].sort());
      });

      it('is idempotent: a second call kills nothing and returns 0', async () => {
        const t = await tree();
        expect(await store.revokeTree(t.a.sid, now())).toHaveLength(4);
        expect(await store.revokeTree(t.a.sid, now())).toHaveLength(0);
        expect(await store.revokeTree(t.a1.sid, now())).toHaveLength(0);
        for (const s of [t.root, t.b, t.b1]) expect(await findable(s)).toBe(true);
      });

      it('a descendant of a killed session is dead: not findable, no subtree, no children under it', async () => {
        const t = await tree();
        await store.revokeTree(t.a.sid, now());
        expect(await findable(t.a1x)).toBe(false);
        expect(await store.subtree(t.a1.sid, now())).toEqual([]);
        expect(await store.create(makeChild(t.a1x), now(), now())).toBe('ancestor_revoked');
      });

      it('killing a root kills the whole tree', async () => {
        const t = await tree();
        expect(await store.revokeTree(t.root.sid, now())).toHaveLength(7);
        for (const s of Object.values(t)) expect(await findable(s)).toBe(false);
        expect(await store.list({}, now(), 100)).toEqual([]);
      });

      it('killing a leaf kills only the leaf', async () => {
        const t = await tree();
        expect(await store.revokeTree(t.a1x.sid, now())).toHaveLength(1);
        expect(await findable(t.a1x)).toBe(false);
        for (const s of [t.root, t.a, t.a1, t.a2, t.b, t.b1]) expect(await findable(s)).toBe(true);
        expect((await store.subtree(t.a1.sid, now())).map((s) => s.sid)).toEqual([t.a1.sid]);
      });

      it('an unknown sid kills nothing and returns 0', async () => {
        await tree();
        expect(await store.revokeTree(randomId('nope'), now())).toEqual([]);
        expect(await store.list({}, now(), 100)).toHaveLength(7);
      });
    });

    describe('what a kill resolves: the live sessions it removed', () => {
      const removedOf = (...ss: Session[]): RemovedSession[] =>
        ss.map(({ sid, agent, sub, aud, act, exp }) => ({ sid, agent, sub, aud, exp, ...(act ? { act } : {}) })).sort((a, b) => (a.sid < b.sid ? -1 : 1));
      const sorted = (rs: RemovedSession[]) => [...rs].sort((a, b) => (a.sid < b.sid ? -1 : 1));

      it('revokeTree: sid, agent, sub, aud, exp and act (only when there is one) of each, nothing else', async () => {
        const root = makeRoot({ aud: 'https://one.example.com' });
        const a = makeDelegated(root, 'agent-b');
        const a1 = makeDelegated(a, 'agent-c');
        const b = makeChild(root);
        await createAll(root, a, a1, b);
        const removed = await store.revokeTree(a.sid, now());
        expect(sorted(removed)).toStrictEqual(removedOf(a, a1));
        expect(sorted(await store.revokeTree(root.sid, now()))).toStrictEqual(removedOf(root, b));
        expect(await store.revokeTree(root.sid, now())).toEqual([]);
      });

      it('revokeTree: a session of the subtree that has already expired (by nowMs) is removed but not listed', async () => {
        const root = makeRoot();
        const short = makeChild(root, { exp: root.exp - 300 });
        const long = makeChild(root);
        await createAll(root, short, long);
        expect(sorted(await store.revokeTree(root.sid, short.exp * 1000))).toStrictEqual(removedOf(root, long));
        expect(await findable(short, short.exp * 1000 - 1)).toBe(false);
      });

      it('revokeAgent: every live session removed, across trees, each once', async () => {
        const r1 = makeRoot({ agent: 'agent-k', sub: 'agent-k' });
        const c1 = makeDelegated(r1, 'agent-m');
        const r2 = makeRoot({ agent: 'agent-k', sub: 'user-7', act: { sub: 'agent-k' } });
        const bystander = makeRoot({ agent: 'agent-n', sub: 'agent-n' });
        await createAll(r1, c1, r2, bystander);
        expect(sorted(await store.revokeAgent('agent-k', now()))).toStrictEqual(removedOf(r1, c1, r2));
        expect(await findable(bystander)).toBe(true);
      });
    });

    describe('the kill outbox: a tagged kill keeps its sessions until their announcement is confirmed', () => {
      const tagOf = (kill: string, reason = 'admin') => ({ id: randomId('k'), kill, reason });
      const listed = async (beforeMs: number) =>
        (await store.unannounced(beforeMs, 100)).map((t) => ({ root: t.root, marks: t.marks.length, sids: t.sessions.map((x) => x.sid).sort() }));

      it('an untagged kill leaves nothing waiting; a tagged one lists every removed session with what its SET needs', async () => {
        const root = makeRoot({ aud: 'https://one.example.com', sub: 'user-1' });
        const child = makeDelegated(root, 'agent-b');
        const other = makeRoot();
        await createAll(root, child, other);
        const t = now();
        await store.revokeTree(other.sid, t);
        expect(await store.unannounced(t + 1, 100)).toEqual([]);
        await store.revokeTree(root.sid, t, tagOf('req-1', 'revocation'));
        const [tree, ...rest] = await store.unannounced(t + 1, 100);
        expect(rest).toEqual([]);
        expect(tree!.root).toBe(root.sid);
        expect([...tree!.sessions].sort((a, b) => (a.sid < b.sid ? -1 : 1))).toStrictEqual(
          [root, child].map((x) => ({ sid: x.sid, aud: x.aud, agent: x.agent, sub: x.sub, exp: x.exp, kill: 'req-1', reason: 'revocation' }))
            .sort((a, b) => (a.sid < b.sid ? -1 : 1)),
        );
        // a kill that began at or after `beforeMs` may still be announcing: not listed
        expect(await store.unannounced(t, 100)).toEqual([]);
      });

      it('a killed session is named by the same fields wherever it is kept: the removed list (with act), the outbox (with the kill)', async () => {
        const root = makeRoot({ agent: 'agent-f', sub: 'user-f', act: { sub: 'agent-f' } });
        await createAll(root);
        const t = now();
        const [removed, ...more] = await store.revokeTree(root.sid, t, tagOf('req-f'));
        expect(more).toEqual([]);
        const [tree] = await store.unannounced(t + 1, 100);
        const named = (o: object, own: string[]) => Object.keys(o).filter((k) => !own.includes(k)).sort();
        expect(named(removed!, ['act'])).toEqual([...KILLED_SESSION_FIELDS]);
        expect(removed!.act).toEqual({ sub: 'agent-f' });
        expect(named(tree!.sessions[0]!, ['kill', 'reason'])).toEqual([...KILLED_SESSION_FIELDS]);
        expect(killedSession(tree!.sessions[0]!)).toStrictEqual(killedSession(removed!));
        await store.forgetAnnounced([tree!]);
      });

      it('announced clears the kill; a kill that removed nothing leaves no mark', async () => {
        const root = makeRoot();
        await createAll(root);
        const t = now();
        const tag = tagOf('req-2');
        const removed = await store.revokeTree(root.sid, t, tag);
        await store.announced(removed, tag);
        expect(await store.unannounced(t + 1, 100)).toEqual([]);
        expect(await store.revokeTree(root.sid, t, tagOf('req-3'))).toEqual([]);
        expect(await store.revokeAgent('agent-nobody', t, tagOf('req-4'))).toEqual([]);
        expect(await store.unannounced(t + 1, 100)).toEqual([]);
      });

      it('a kill of a 10,000-session tree is settled whole: announced and forgetAnnounced clear every outbox entry and the mark', async () => {
        // Redis' Lua cannot unpack 8,000 values: an outbox this large is cleared in chunks
        const BIG_TREE = 10_000;
        const WINDOW = 500;
        for (const settle of ['announced', 'forgetAnnounced'] as const) {
          const root = makeRoot();
          const children = Array.from({ length: BIG_TREE - 1 }, () => makeChild(root));
          await createAll(root);
          for (let i = 0; i < children.length; i += WINDOW) {
            const created = await Promise.all(children.slice(i, i + WINDOW).map((c) => store.create(c, now(), now())));
            expect(created.every((o) => o === 'created')).toBe(true);
          }
          const t = now();
          const tag = tagOf(`req-big-${settle}`);
          const removed = await store.revokeTree(root.sid, t, tag);
          expect(removed).toHaveLength(BIG_TREE);
          // a kill of many steps stamps its mark with each: look from after the last
          const later = now() + 1;
          if (settle === 'announced') await store.announced(removed, tag);
          else {
            const [waiting, ...more] = await store.unannounced(later, 100);
            expect(more).toEqual([]);
            expect(waiting!.sessions).toHaveLength(BIG_TREE);
            await store.forgetAnnounced([waiting!]);
          }
          expect(await store.unannounced(later, 100)).toEqual([]);
        }
      }, BIG_TREE_TIMEOUT_MS);

      it('kills of one tree are settled apart: an announced one never clears another still waiting', async () => {
        const root = makeRoot();
        const a = makeChild(root);
        const b = makeChild(root);
        await createAll(root, a, b);
        const t = now();
        const first = tagOf('req-a');
        const second = tagOf('req-b');
        const killedA = await store.revokeTree(a.sid, t, first);
        await store.revokeTree(b.sid, t, second);
        await store.announced(killedA, first);
        expect(await listed(t + 1)).toEqual([{ root: root.sid, marks: 1, sids: [b.sid] }]);
        const waiting = await store.unannounced(t + 1, 100);
        const third = tagOf('req-c');
        await store.revokeTree(root.sid, t + 5, third);
        await store.forgetAnnounced(waiting);
        expect(await listed(t + 6)).toEqual([{ root: root.sid, marks: 1, sids: [root.sid] }]);
      });

      it('revokeAgent lists every tree it filled; limit bounds the trees listed', async () => {
        const roots = [0, 1, 2].map(() => makeRoot({ agent: 'agent-q', sub: 'agent-q' }));
        const child = makeChild(roots[0]!);
        await createAll(...roots, child);
        const t = now();
        expect(await store.revokeAgent('agent-q', t, tagOf('req-q'))).toHaveLength(4);
        const all = await listed(t + 1);
        expect(all.map((x) => x.root).sort()).toEqual(roots.map((r) => r.sid).sort());
        expect(all.find((x) => x.root === roots[0]!.sid)!.sids).toEqual([roots[0]!.sid, child.sid].sort());
        expect(await store.unannounced(t + 1, 2)).toHaveLength(2);
        await store.forgetAnnounced(await store.unannounced(t + 1, 100));
        expect(await store.unannounced(t + 1, 100)).toEqual([]);
      });
    });

    describe('create validates every value before writing anything', () => {
      const nowS = () => Math.floor(now() / 1000);

      it.each([
        ['exp', (s: number) => ({ exp: s + 200.123456 })],
        ['iat', (s: number) => ({ iat: s + 0.5 })],
        ['depth', () => ({ depth: 0.5 })],
        ['maxDepth', () => ({ maxDepth: Number.NaN })],
        ['exp (unsafe)', () => ({ exp: 2 ** 60 })],
      ])('a non-integer %s throws (a programming error) and nothing is written, however often it is replayed', async (field, over) => {
        await createAll(makeRoot());
        const before = await snapshot();
        const bad = makeRoot(over(nowS()));
        for (let i = 0; i < 20; i++) await expect(store.create(bad, now(), now())).rejects.toThrow(/must be an integer/);
        const child = makeChild(makeRoot(), over(nowS()));
        await expect(store.create(child, now(), now())).rejects.toThrow(new RegExp(field.split(' ')[0]!));
        expect(await snapshot()).toEqual(before);
        expect(await findable(bad)).toBe(false);
      });

      it('a session whose expiry has already passed by nowMs is refused as expired and nothing is written', async () => {
        const root = makeRoot();
        await createAll(root);
        const before = await snapshot();
        const stale = makeRoot({ exp: nowS() - 1 });
        expect(await store.create(stale, now(), now())).toBe('expired');
        expect(await store.create(makeRoot({ exp: root.exp }), root.exp * 1000, root.exp * 1000)).toBe('expired');
        expect(await snapshot()).toEqual(before);
        expect((await store.list({}, now(), 100)).map((s) => s.sid)).toEqual([root.sid]);
      });
    });

    describe("an agent-wide kill's not-before marker", () => {
      it('a create for a request that arrived before the kill is refused and writes nothing: root, delegated child, act chain', async () => {
        const t = now();
        const parent = makeRoot({ agent: 'agent-p', sub: 'agent-p' });
        await createAll(parent);
        expect(await store.revokeAgent('agent-k', t)).toEqual([]);
        const before = await snapshot();
        const root = makeRoot({ agent: 'agent-k', sub: 'agent-k' });
        const obo = makeRoot({ agent: 'agent-q', sub: 'user-1', act: { sub: 'agent-q', act: { sub: 'agent-k' } } });
        const delegated = makeDelegated(parent, 'agent-k');
        for (const s of [root, obo, delegated]) {
          expect(await store.create(s, t + 5, t - 10)).toBe('agent_revoked');
          // inside the clock-skew allowance after the kill, too
          expect(await store.create(s, t + 5, t + AGENT_KILL_CLOCK_SKEW_MS)).toBe('agent_revoked');
        }
        expect(await snapshot()).toEqual(before);
        for (const s of [root, obo, delegated]) expect(await findable(s)).toBe(false);
        expect(await store.list({ agent: 'agent-k' }, now(), 100)).toEqual([]);
        expect((await store.list({}, now(), 100)).map((s) => s.sid)).toEqual([parent.sid]);
        expect(await store.subtree(parent.sid, now())).toStrictEqual([parent]);
      });

      it('a request that arrived after the allowance is stored; other agents were never affected', async () => {
        const t = now();
        await store.revokeAgent('agent-k', t);
        const other = makeRoot({ agent: 'agent-o', sub: 'agent-o' });
        expect(await store.create(other, t, t - 10)).toBe('created');
        const late = makeRoot({ agent: 'agent-k', sub: 'agent-k' });
        expect(await store.create(late, t + 5, t + AGENT_KILL_CLOCK_SKEW_MS + 1)).toBe('created');
        expect(await findable(late)).toBe(true);
        expect((await store.list({ agent: 'agent-k' }, now(), 100)).map((s) => s.sid)).toEqual([late.sid]);
      });

      it('an agent named only by the chain (holder of an ancestor) refuses the create too', async () => {
        const t = now();
        await store.revokeAgent('agent-x', t);
        // agent-x's root, from a request after the kill; its child's request arrived before it.
        const parent = makeRoot({ agent: 'agent-x', sub: 'agent-x' });
        expect(await store.create(parent, t + 5, t + AGENT_KILL_CLOCK_SKEW_MS + 1)).toBe('created');
        const before = await snapshot();
        const child = makeDelegated(parent, 'agent-y');
        expect(child.chain).toEqual(['agent-x']);
        expect(await store.create(child, t + 5, t)).toBe('agent_revoked');
        expect(await snapshot()).toEqual(before);
        expect(await store.create(child, t + 5, t + AGENT_KILL_CLOCK_SKEW_MS + 1)).toBe('created');
        expect(await findable(child)).toBe(true);
      });

      it('a later kill is never undone by an earlier-timed one (another instance, its clock behind)', async () => {
        const t = now();
        await store.revokeAgent('agent-k', t + 5_000);
        await store.revokeAgent('agent-k', t);
        expect(await store.create(makeRoot({ agent: 'agent-k', sub: 'agent-k' }), t + 5, t + 5_000)).toBe('agent_revoked');
      });
    });

    describe("an agent's disabled status", () => {
      it('refuses every create naming the agent (holder, actor, ancestor holder), whenever the request arrived, and writes nothing', async () => {
        const t = now();
        const parent = makeRoot({ agent: 'agent-x', sub: 'agent-x' });
        await createAll(parent);
        await store.setAgentDisabled('agent-k', true);
        await store.setAgentDisabled('agent-x', true);
        const before = await snapshot();
        const root = makeRoot({ agent: 'agent-k', sub: 'agent-k' });
        const obo = makeRoot({ agent: 'agent-q', sub: 'user-1', act: { sub: 'agent-q', act: { sub: 'agent-k' } } });
        const underDisabled = makeDelegated(parent, 'agent-y');
        for (const s of [root, obo, underDisabled]) {
          expect(await store.create(s, t + 5, t + 60_000)).toBe('agent_disabled');
          expect(await store.create(s, t + 5, t - 60_000)).toBe('agent_disabled');
        }
        expect(await snapshot()).toEqual(before);
        for (const s of [root, obo, underDisabled]) expect(await findable(s)).toBe(false);
        expect(await store.list({ agent: 'agent-k' }, now(), 100)).toEqual([]);
        const other = makeRoot({ agent: 'agent-o', sub: 'agent-o' });
        expect(await store.create(other, t + 5, t)).toBe('created');
      });

      it('once cleared, creates for the agent are stored again; setting it twice is harmless', async () => {
        const t = now();
        await store.setAgentDisabled('agent-k', true);
        await store.setAgentDisabled('agent-k', true);
        const root = makeRoot({ agent: 'agent-k', sub: 'agent-k' });
        expect(await store.create(root, t, t)).toBe('agent_disabled');
        await store.setAgentDisabled('agent-k', false);
        await store.setAgentDisabled('agent-k', false);
        expect(await store.create(root, t, t)).toBe('created');
        expect(await findable(root)).toBe(true);
      });
    });

    describe('enableAgent', () => {
      it('clears the disabled mark and lowers the kill marker: later requests are stored at once, earlier ones still refused', async () => {
        const t = now();
        await store.setAgentDisabled('agent-en', true);
        await store.revokeAgent('agent-en', t);
        const during = makeRoot({ agent: 'agent-en', sub: 'agent-en' });
        expect(await store.create(during, t + 10, t + 10)).toBe('agent_disabled');
        await store.enableAgent('agent-en', t + 5);
        // within the marker's clock-skew allowance, yet after the enable: stored
        expect(await store.create(during, t + 10, t + 10)).toBe('created');
        expect(await store.create(makeRoot({ agent: 'agent-en', sub: 'agent-en' }), t + 10, t + 5)).toBe('created');
        expect(await store.create(makeRoot({ agent: 'agent-en', sub: 'agent-en' }), t + 10, t + 4)).toBe('agent_revoked');
        // an enable never raises a marker a later kill set
        await store.revokeAgent('agent-en', t + 20);
        await store.enableAgent('agent-en', t + 5_000);
        expect(await store.create(makeRoot({ agent: 'agent-en', sub: 'agent-en' }), t + 30, t + 30)).toBe('agent_revoked');
      });
    });

    describe('revokeAgent', () => {
      it('kills what the agent holds and every session it acts in, with their subtrees, nothing else', async () => {
        // agent-a's root; agent-b acts below it; agent-c below agent-b.
        const r1 = makeRoot({ agent: 'agent-a', sub: 'agent-a' });
        const k1 = makeDelegated(r1, 'agent-b'); // held by agent-b
        const g1 = makeDelegated(k1, 'agent-c'); // agent-b in its act chain
        const h1 = makeChild(g1); // agent-c narrowing, agent-b still in the chain
        const l1 = makeChild(k1, { agent: 'agent-z', sub: 'other', act: undefined }); // in k1's subtree only
        const k2 = makeChild(r1); // agent-a narrowing: survives
        // agent-b appears only as a prior actor in another tree.
        const r3 = makeRoot({ agent: 'agent-e', sub: 'user-1', act: { sub: 'agent-e', act: { sub: 'agent-b' } } });
        const r3c = makeDelegated(r3, 'agent-f');
        // unrelated trees
        const r2 = makeRoot({ agent: 'agent-d', sub: 'agent-d' });
        const r2c = makeDelegated(r2, 'agent-c');
        await createAll(r1, k1, g1, h1, l1, k2, r3, r3c, r2, r2c);

        expect(await store.revokeAgent('agent-b', now())).toHaveLength(6);
        for (const s of [k1, g1, h1, l1, r3, r3c]) expect(await findable(s)).toBe(false);
        for (const s of [r1, k2, r2, r2c]) expect(await findable(s)).toBe(true);
        expect((await store.list({}, now(), 100)).map((s) => s.sid).sort()).toEqual([r1.sid, k2.sid, r2.sid, r2c.sid].sort());
        expect(await store.list({ agent: 'agent-b' }, now(), 100)).toEqual([]);
        expect((await store.list({ agent: 'agent-c' }, now(), 100)).map((s) => s.sid)).toEqual([r2c.sid]);
        expect(await store.revokeAgent('agent-b', now())).toHaveLength(0);
      });

      it('an agent holding a parent and its narrowed child counts each session once', async () => {
        const r = makeRoot();
        const c = makeChild(r);
        const gc = makeChild(c);
        await createAll(r, c, gc);
        expect(await store.revokeAgent('agent-a', now())).toHaveLength(3);
        expect(await store.list({}, now(), 100)).toEqual([]);
      });

      it('an agent with no sessions kills nothing', async () => {
        const r = makeRoot();
        await createAll(r);
        expect(await store.revokeAgent('agent-nobody', now())).toHaveLength(0);
        expect(await findable(r)).toBe(true);
      });
    });

    describe('list', () => {
      async function population() {
        const t = Math.floor(Date.now() / 1000);
        // distinct expiries so the order is defined
        const a1 = makeRoot({ agent: 'agent-a', sub: 'user-1', act: { sub: 'agent-a' }, exp: t + 500 });
        const a2 = makeRoot({ agent: 'agent-a', sub: 'agent-a', exp: t + 100 });
        const b1 = makeDelegated(a2, 'agent-b', { exp: t + 90 }); // agent-a is not in b1's act chain
        const b2 = makeDelegated(a1, 'agent-b', { exp: t + 300 }); // sub user-1, act {b, act {a}}
        const c1 = makeRoot({ agent: 'agent-c', sub: 'user-1', act: { sub: 'agent-c' }, exp: t + 200 });
        const c2 = makeRoot({ agent: 'agent-c', sub: 'agent-c', exp: t + 400 });
        await createAll(a1, a2, b1, b2, c1, c2);
        return { t, a1, a2, b1, b2, c1, c2 };
      }
      const sids = (ss: Session[]) => ss.map((s) => s.sid);

      it('with no filter: every live session, soonest-expiring first, field for field', async () => {
        const p = await population();
        const all = await store.list({}, now(), 100);
        expect(sids(all)).toEqual(sids([p.b1, p.a2, p.c1, p.b2, p.c2, p.a1]));
        expect(all).toStrictEqual([p.b1, p.a2, p.c1, p.b2, p.c2, p.a1]);
      });

      it('by agent: sessions it holds and sessions it acts in', async () => {
        const p = await population();
        expect(sids(await store.list({ agent: 'agent-a' }, now(), 100))).toEqual(sids([p.a2, p.b2, p.a1]));
        expect(sids(await store.list({ agent: 'agent-b' }, now(), 100))).toEqual(sids([p.b1, p.b2]));
        expect(sids(await store.list({ agent: 'agent-c' }, now(), 100))).toEqual(sids([p.c1, p.c2]));
        expect(await store.list({ agent: 'agent-unknown' }, now(), 100)).toEqual([]);
      });

      it('by subject', async () => {
        const p = await population();
        expect(sids(await store.list({ sub: 'user-1' }, now(), 100))).toEqual(sids([p.c1, p.b2, p.a1]));
        expect(sids(await store.list({ sub: 'agent-a' }, now(), 100))).toEqual(sids([p.b1, p.a2]));
        expect(await store.list({ sub: 'nobody' }, now(), 100)).toEqual([]);
      });

      it('by agent and subject together', async () => {
        const p = await population();
        expect(sids(await store.list({ agent: 'agent-a', sub: 'user-1' }, now(), 100))).toEqual(sids([p.b2, p.a1]));
        expect(sids(await store.list({ agent: 'agent-b', sub: 'agent-a' }, now(), 100))).toEqual(sids([p.b1]));
        expect(await store.list({ agent: 'agent-c', sub: 'agent-a' }, now(), 100)).toEqual([]);
      });

      it('limit keeps the soonest-expiring sessions', async () => {
        const p = await population();
        expect(sids(await store.list({}, now(), 2))).toEqual(sids([p.b1, p.a2]));
        expect(sids(await store.list({ agent: 'agent-a' }, now(), 1))).toEqual(sids([p.a2]));
        expect(sids(await store.list({ sub: 'user-1' }, now(), 2))).toEqual(sids([p.c1, p.b2]));
      });

      it('latest_expiry: latest-expiring first, and limit keeps those', async () => {
        const p = await population();
        expect(await store.list({}, now(), 100, 'latest_expiry')).toStrictEqual([p.a1, p.c2, p.b2, p.c1, p.a2, p.b1]);
        expect(sids(await store.list({}, now(), 2, 'latest_expiry'))).toEqual(sids([p.a1, p.c2]));
        expect(sids(await store.list({ agent: 'agent-a' }, now(), 1, 'latest_expiry'))).toEqual(sids([p.a1]));
        expect(sids(await store.list({ sub: 'agent-a' }, now(), 100, 'latest_expiry'))).toEqual(sids([p.a2, p.b1]));
        expect(sids(await store.list({ agent: 'agent-c', sub: 'user-1' }, now(), 1, 'latest_expiry'))).toEqual(sids([p.c1]));
        const at = (p.t + 250) * 1000; // b1, a2, c1 have expired
        expect(sids(await store.list({}, at, 100, 'latest_expiry'))).toEqual(sids([p.a1, p.c2, p.b2]));
        expect(sids(await store.list({}, now(), 100, 'soonest_expiry'))).toEqual(sids([p.b1, p.a2, p.c1, p.b2, p.c2, p.a1]));
      });

      it('limit with both filters counts only matching sessions', async () => {
        // agent-a's soonest-expiring sessions are for another subject: they must not use up the limit.
        const p = await population();
        expect(sids(await store.list({ agent: 'agent-a', sub: 'user-1' }, now(), 1))).toEqual(sids([p.b2]));
        expect(sids(await store.list({ agent: 'agent-a', sub: 'user-1' }, now(), 2))).toEqual(sids([p.b2, p.a1]));
      });

      it('excludes expired sessions (by nowMs)', async () => {
        const p = await population();
        const at = (p.t + 250) * 1000; // b1 (90), a2 (100), c1 (200) have expired
        expect(sids(await store.list({}, at, 100))).toEqual(sids([p.b2, p.c2, p.a1]));
        expect(sids(await store.list({ agent: 'agent-a' }, at, 100))).toEqual(sids([p.b2, p.a1]));
        expect(sids(await store.list({ sub: 'user-1' }, at, 100))).toEqual(sids([p.b2, p.a1]));
        expect(sids(await store.list({ agent: 'agent-c', sub: 'user-1' }, at, 100))).toEqual([]);
        expect(await store.list({}, (p.t + 500) * 1000, 100)).toEqual([]);
      });

      it('excludes revoked sessions and their descendants', async () => {
        const p = await population();
        await store.revokeTree(p.a1.sid, now()); // a1 and b2
        await store.revokeTree(p.c1.sid, now());
        expect(sids(await store.list({}, now(), 100))).toEqual(sids([p.b1, p.a2, p.c2]));
        expect(sids(await store.list({ agent: 'agent-a' }, now(), 100))).toEqual(sids([p.a2]));
        expect(sids(await store.list({ agent: 'agent-b' }, now(), 100))).toEqual(sids([p.b1]));
        expect(await store.list({ sub: 'user-1' }, now(), 100)).toEqual([]);
      });
    });

    describe('subtree', () => {
      it('returns the session first, then its descendants breadth first', async () => {
        const root = makeRoot();
        const a = makeChild(root);
        const b = makeDelegated(root, 'agent-b');
        const a1 = makeChild(a);
        const b1 = makeDelegated(b, 'agent-c');
        const b2 = makeChild(b);
        const a1x = makeChild(a1);
        await createAll(root, a, b, a1, b1, b2, a1x);
        const out = await store.subtree(root.sid, now());
        expect(out[0]).toStrictEqual(root);
        // breadth first: depth never decreases, every level complete before the next
        expect(out.map((s) => s.depth)).toEqual([0, 1, 1, 2, 2, 2, 3]);
        expect(out.slice(1, 3).map((s) => s.sid).sort()).toEqual([a.sid, b.sid].sort());
        expect(out.slice(3, 6).map((s) => s.sid).sort()).toEqual([a1.sid, b1.sid, b2.sid].sort());
        expect(out[6]).toStrictEqual(a1x);
        const byId = new Map(out.map((s) => [s.sid, s]));
        for (const s of [a, b, a1, b1, b2]) expect(byId.get(s.sid)).toStrictEqual(s);

        const fromB = await store.subtree(b.sid, now());
        expect(fromB[0]).toStrictEqual(b);
        expect(fromB.slice(1).map((s) => s.sid).sort()).toEqual([b1.sid, b2.sid].sort());
      });

      it('is empty for an unknown sid', async () => {
        await createAll(makeRoot());
        expect(await store.subtree(randomId('nope'), now())).toEqual([]);
      });

      it('is empty for a revoked session', async () => {
        const root = makeRoot();
        const child = makeChild(root);
        await createAll(root, child);
        await store.revokeTree(root.sid, now());
        expect(await store.subtree(root.sid, now())).toEqual([]);
        expect(await store.subtree(child.sid, now())).toEqual([]);
      });

      it('is empty for an expired session', async () => {
        const root = makeRoot();
        const child = makeChild(root);
        await createAll(root, child);
        expect(await store.subtree(root.sid, root.exp * 1000)).toEqual([]);
      });

      it('is empty for a live session whose ancestor has expired', async () => {
        const root = makeRoot();
        const child = makeChild(root, { exp: root.exp + 300 });
        const grandchild = makeChild(child);
        await createAll(root, child, grandchild);
        expect((await store.subtree(child.sid, root.exp * 1000 - 1)).map((s) => s.sid)).toEqual([child.sid, grandchild.sid]);
        expect(await store.subtree(child.sid, root.exp * 1000 + 1)).toEqual([]);
        expect(await store.subtree(grandchild.sid, root.exp * 1000 + 1)).toEqual([]);
      });

      it('leaves out an expired descendant and everything below it', async () => {
        const root = makeRoot();
        const short = makeChild(root, { exp: root.exp - 300 });
        const below = makeChild(short);
        const long = makeChild(root);
        await createAll(root, short, below, long);
        const out = await store.subtree(root.sid, short.exp * 1000 + 1);
        expect(out.map((s) => s.sid)).toEqual([root.sid, long.sid]);
      });
    });

    describe.each(SPACES)('useOnce (replay) in the %s space', (space) => {
      const useOnce = (id: string, expiresAtMs: number, nowMs: number) => store.useOnce(space, id, expiresAtMs, nowMs);

      it('the first use wins, every later use of the same id loses while unexpired', async () => {
        const id = randomId('jti');
        const t = now();
        expect(await useOnce(id, t + 60_000, t)).toBe(true);
        expect(await useOnce(id, t + 60_000, t)).toBe(false);
        expect(await useOnce(id, t + 60_000, t + 1_000)).toBe(false);
        expect(await useOnce(randomId('jti'), t + 60_000, t)).toBe(true);
      });

      it('concurrent uses of one id: exactly one wins', async () => {
        const id = randomId('jti');
        const t = now();
        const results = await Promise.all(Array.from({ length: 20 }, () => useOnce(id, t + 60_000, t)));
        expect(results.filter(Boolean)).toHaveLength(1);
      });

      it('an id may be used again once its expiry has passed', async () => {
        const id = randomId('jti');
        const t = now();
        if (ctx.wallClockReplayExpiry) {
          expect(await useOnce(id, t + 50, t)).toBe(true);
          expect(await useOnce(id, t + 50, t)).toBe(false);
          await sleep(120);
          const t2 = now();
          expect(await useOnce(id, t2 + 60_000, t2)).toBe(true);
          expect(await useOnce(id, t2 + 60_000, t2)).toBe(false);
        } else {
          expect(await useOnce(id, t + 50, t)).toBe(true);
          expect(await useOnce(id, t + 50, t + 49)).toBe(false);
          expect(await useOnce(id, t + 60_000, t + 50)).toBe(true);
          expect(await useOnce(id, t + 60_000, t + 1_000)).toBe(false);
        }
      });

      it('the spaces are apart: an id used here is unused in every other space, and theirs leave it unused here', async () => {
        const t = now();
        const mine = randomId('jti');
        const theirs = randomId('jti');
        expect(await useOnce(mine, t + 60_000, t)).toBe(true);
        for (const other of SPACES.filter((x) => x !== space)) {
          expect(await store.useOnce(other, mine, t + 60_000, t)).toBe(true);
          expect(await store.useOnce(other, theirs, t + 60_000, t)).toBe(true);
        }
        expect(await useOnce(theirs, t + 60_000, t)).toBe(true);
        expect(await useOnce(mine, t + 60_000, t)).toBe(false);
      });
    });

    describe('countLive', () => {
      it('counts stored unexpired sessions, roots and descendants; a kill and an expiry take them out', async () => {
        expect(await store.countLive(now())).toBe(0);
        const t = Math.floor(now() / 1000);
        const root = makeRoot({ exp: t + 600 });
        const child = makeDelegated(root, 'agent-b', { exp: t + 300 });
        const other = makeRoot({ agent: 'agent-c', sub: 'agent-c', exp: t + 100 });
        await createAll(root, child, other);
        expect(await store.countLive(now())).toBe(3);
        // by the caller's clock: at other's expiry it no longer counts
        expect(await store.countLive(other.exp * 1000)).toBe(2);
        expect(await store.revokeTree(root.sid, now())).toHaveLength(2);
        expect(await store.countLive(now())).toBe(1);
      });
    });

    describe('ping', () => {
      it('resolves while the store answers', async () => {
        await expect(store.ping()).resolves.toBeUndefined();
      });
    });
  });
}
