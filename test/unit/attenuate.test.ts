import { describe, expect, it } from '@jest/globals';
import { parseScope } from 'agent-sts-gate/protocol';
import type { Agent } from '../../src/clients/types.js';
import { OAuthError } from '../../src/errors.js';
import { childGrant, entitlement, rootGrant, type Grant } from '../../src/sessions/attenuate.js';
import type { Session } from '../../src/store/index.js';

const API = 'https://api.example.com';
const OTHER = 'https://other.example.com';
const NOW = 1_700_000_000;

function agent(id: string, over: Partial<Agent> = {}): Agent {
  return {
    id,
    audiences: { [API]: ['read', 'write', 'admin'], [OTHER]: ['reports'] },
    maxTokenTtlSeconds: 300,
    maxDelegationDepth: 3,
    grantTypes: ['client_credentials', 'urn:ietf:params:oauth:grant-type:token-exchange'],
    delegates: [],
    disabled: false,
    requireDpop: false,
    ...over,
  };
}

/** The stored session a grant becomes (what childGrant receives as parent). */
function sessionOf(g: Grant, sid: string): Session {
  const parent = g.parent;
  return {
    sid,
    ...(parent ? { parent: parent.sid } : {}),
    ancestors: parent ? [...parent.ancestors, parent.sid] : [],
    chain: parent ? [...parent.chain, parent.agent] : [],
    depth: g.depth,
    maxDepth: g.maxDepth,
    agent: g.agent,
    sub: g.sub,
    ...(g.act ? { act: g.act } : {}),
    aud: g.aud,
    scope: g.scope,
    iat: NOW,
    exp: g.exp,
    jti: `jti-${sid}`,
    tokenHash: `hash-${sid}`,
  };
}

/** The OAuth error a call throws: status and code. */
function failure(fn: () => unknown): { status: number; error: string; description: string | undefined } {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof OAuthError)) throw err;
    return { status: err.status, error: err.error, description: err.description };
  }
  throw new Error('expected an OAuthError, nothing was thrown');
}

describe('parseScope', () => {
  it('splits on spaces, drops empties and duplicates, keeps first-seen order', () => {
    expect(parseScope('write  read write ')).toEqual(['write', 'read']);
    expect(parseScope('')).toEqual([]);
    expect(parseScope(undefined)).toEqual([]);
  });
});

describe('entitlement', () => {
  it("returns the agent's scopes at a target it is entitled to", () => {
    expect(entitlement(agent('a'), API)).toEqual(['read', 'write', 'admin']);
  });

  it('an unknown target is invalid_target, including names inherited from Object.prototype', () => {
    for (const t of ['https://nowhere.example.com', '__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
      expect(failure(() => entitlement(agent('a'), t))).toMatchObject({ status: 400, error: 'invalid_target' });
    }
  });
});

describe('rootGrant', () => {
  it('grants the requested scope at the target, for the agent itself, with the agent TTL and depth limit', () => {
    const g = rootGrant(agent('a', { maxTokenTtlSeconds: 120, maxDelegationDepth: 2 }), API, ['write', 'read'], NOW);
    expect(g).toStrictEqual({ agent: 'a', sub: 'a', aud: API, scope: ['write', 'read'], exp: NOW + 120, depth: 0, maxDepth: 2 });
  });

  it('on behalf of a user: sub is the user, act names the agent', () => {
    const g = rootGrant(agent('a'), API, ['read'], NOW, { sub: 'user-1', act: { sub: 'a' } });
    expect(g.sub).toBe('user-1');
    expect(g.act).toEqual({ sub: 'a' });
    expect(g.agent).toBe('a');
  });

  it('a target outside the entitlement is invalid_target', () => {
    expect(failure(() => rootGrant(agent('a'), 'https://nowhere.example.com', ['read'], NOW))).toMatchObject({
      status: 400,
      error: 'invalid_target',
    });
  });

  it('a scope outside the entitlement at that target is invalid_scope and names the scope', () => {
    const f = failure(() => rootGrant(agent('a'), API, ['read', 'reports'], NOW));
    expect(f).toMatchObject({ status: 400, error: 'invalid_scope' });
    expect(f.description).toMatch(/: reports$/);
  });
});

describe('childGrant', () => {
  const root = (a: Agent, scope = ['read', 'write']) => sessionOf(rootGrant(a, API, scope, NOW), 'root');

  describe('narrowing rules and their error codes', () => {
    it('a target the agent is not entitled to is invalid_target', () => {
      const parent = root(agent('a'));
      const b = agent('b', { audiences: { [OTHER]: ['reports'] } });
      expect(failure(() => childGrant(b, parent, API, ['read'], NOW))).toMatchObject({ status: 400, error: 'invalid_target' });
    });

    it('an entitled target other than the parent audience is invalid_target', () => {
      const parent = root(agent('a'));
      expect(failure(() => childGrant(agent('a'), parent, OTHER, ['reports'], NOW))).toMatchObject({
        status: 400,
        error: 'invalid_target',
      });
    });

    it("a scope beyond the parent's is invalid_scope, even when the agent is entitled to it", () => {
      const parent = root(agent('a'), ['read']);
      const f = failure(() => childGrant(agent('b'), parent, API, ['read', 'write'], NOW));
      expect(f).toMatchObject({ status: 400, error: 'invalid_scope' });
      expect(f.description).toContain('write');
    });

    it("a scope within the parent's but beyond the agent's entitlement is invalid_scope", () => {
      const parent = root(agent('a'), ['read', 'write']);
      const b = agent('b', { audiences: { [API]: ['read'] } });
      const f = failure(() => childGrant(b, parent, API, ['write'], NOW));
      expect(f).toMatchObject({ status: 400, error: 'invalid_scope' });
      expect(f.description).toContain('write');
    });

    it('scope within both: granted exactly as requested', () => {
      const parent = root(agent('a'), ['read', 'write']);
      expect(childGrant(agent('b'), parent, API, ['write'], NOW).scope).toEqual(['write']);
    });

    it('a depth beyond the parent chain limit is invalid_grant', () => {
      const parent = root(agent('a', { maxDelegationDepth: 0 }));
      const f = failure(() => childGrant(agent('b', { maxDelegationDepth: 5 }), parent, API, ['read'], NOW));
      expect(f).toMatchObject({ status: 400, error: 'invalid_grant' });
    });

    it("a depth beyond the exchanging agent's own limit is invalid_grant", () => {
      const parent = root(agent('a', { maxDelegationDepth: 5 }));
      expect(failure(() => childGrant(agent('b', { maxDelegationDepth: 0 }), parent, API, ['read'], NOW))).toMatchObject({
        status: 400,
        error: 'invalid_grant',
      });
    });
  });

  describe('depth limit = the smallest maxDelegationDepth on the chain', () => {
    it('a limit set high up binds every hop below it, even agents allowing more', () => {
      const a = agent('a', { maxDelegationDepth: 2 });
      const b = agent('b', { maxDelegationDepth: 5 });
      const c = agent('c', { maxDelegationDepth: 5 });
      const d = agent('d', { maxDelegationDepth: 5 });
      const s0 = root(a);
      const g1 = childGrant(b, s0, API, ['read'], NOW);
      expect([g1.depth, g1.maxDepth]).toEqual([1, 2]);
      const g2 = childGrant(c, sessionOf(g1, 's1'), API, ['read'], NOW);
      expect([g2.depth, g2.maxDepth]).toEqual([2, 2]);
      expect(failure(() => childGrant(d, sessionOf(g2, 's2'), API, ['read'], NOW))).toMatchObject({ error: 'invalid_grant' });
    });

    it('a limit set lower down keeps binding after that hop', () => {
      const a = agent('a', { maxDelegationDepth: 5 });
      const b = agent('b', { maxDelegationDepth: 1 });
      const c = agent('c', { maxDelegationDepth: 5 });
      const g1 = childGrant(b, root(a), API, ['read'], NOW);
      expect([g1.depth, g1.maxDepth]).toEqual([1, 1]);
      expect(failure(() => childGrant(c, sessionOf(g1, 's1'), API, ['read'], NOW))).toMatchObject({ error: 'invalid_grant' });
    });

    it('same-agent narrowing counts as a hop too', () => {
      const a = agent('a', { maxDelegationDepth: 1 });
      const g1 = childGrant(a, root(a), API, ['read'], NOW);
      expect(g1.depth).toBe(1);
      expect(failure(() => childGrant(a, sessionOf(g1, 's1'), API, ['read'], NOW))).toMatchObject({ error: 'invalid_grant' });
    });
  });

  describe('expiry = min(parent exp, now + agent TTL)', () => {
    it("the agent's TTL when it ends first", () => {
      const parent = root(agent('a', { maxTokenTtlSeconds: 300 }));
      expect(childGrant(agent('b', { maxTokenTtlSeconds: 60 }), parent, API, ['read'], NOW).exp).toBe(NOW + 60);
    });

    it("the parent's expiry when it ends first", () => {
      const parent = root(agent('a', { maxTokenTtlSeconds: 300 }));
      expect(childGrant(agent('b', { maxTokenTtlSeconds: 600 }), parent, API, ['read'], NOW).exp).toBe(NOW + 300);
      // later in the parent's life the remaining time shrinks
      expect(childGrant(agent('b', { maxTokenTtlSeconds: 60 }), parent, API, ['read'], NOW + 290).exp).toBe(NOW + 300);
    });
  });

  describe('act: a delegation nests, a same-agent narrowing does not', () => {
    it('delegation to another agent: act names it', () => {
      const parent = root(agent('a'));
      const g = childGrant(agent('b'), parent, API, ['read'], NOW);
      expect(g.act).toEqual({ sub: 'b' });
      expect(g.agent).toBe('b');
      expect(g.sub).toBe('a');
      expect(g.parent).toBe(parent);
      expect(g.aud).toBe(API);
    });

    it('a second delegation nests the previous actor inside', () => {
      const g1 = childGrant(agent('b'), root(agent('a')), API, ['read'], NOW);
      const g2 = childGrant(agent('c'), sessionOf(g1, 's1'), API, ['read'], NOW);
      expect(g2.act).toEqual({ sub: 'c', act: { sub: 'b' } });
      expect(g2.sub).toBe('a');
    });

    it('same-agent narrowing of a root: no act', () => {
      const g = childGrant(agent('a'), root(agent('a')), API, ['read'], NOW);
      expect(g).not.toHaveProperty('act');
      expect(g.sub).toBe('a');
    });

    it('same-agent narrowing of a delegated token keeps the act chain unchanged', () => {
      const g1 = childGrant(agent('b'), root(agent('a')), API, ['read', 'write'], NOW);
      const g2 = childGrant(agent('b'), sessionOf(g1, 's1'), API, ['read'], NOW);
      expect(g2.act).toEqual({ sub: 'b' });
    });

    it('on-behalf-of chains keep the user as sub and nest the agents', () => {
      const a = agent('a');
      const obo = sessionOf(rootGrant(a, API, ['read'], NOW, { sub: 'user-1', act: { sub: 'a' } }), 'obo');
      const g = childGrant(agent('b'), obo, API, ['read'], NOW);
      expect(g.sub).toBe('user-1');
      expect(g.act).toEqual({ sub: 'b', act: { sub: 'a' } });
      const same = childGrant(a, obo, API, ['read'], NOW);
      expect(same.act).toEqual({ sub: 'a' });
    });
  });
});
