import { describe, expect, it } from '@jest/globals';
import {
  canonicalActor, killOutcome, resourceServerProbed, revocationAnnounced, revocationRequested, tokenIssued, type KillTarget,
} from '../../src/audit/records.js';
import { canonicalJson } from '../../src/store/audit.js';
import type { RemovedSession } from '../../src/store/index.js';

/**
 * Every record the session service writes is built with its members already in canonical order, at
 * every depth: the trail writes it with one JSON.stringify (canonicalJson's fast path). A member
 * added out of order would still be recorded correctly, only slower; this test makes it fail.
 */
const canonical = (r: unknown) => expect(JSON.stringify(r)).toBe(canonicalJson(r));
const NOW = Date.parse('2026-12-07T12:00:00Z');
const contexts = [{ requestId: 'r-1', startedMs: NOW }, { requestId: 'r-2', startedMs: NOW, adminSid: 'admin-sid' }];
const act = { sub: 'agent-c', act: { sub: 'agent-b', act: { sub: 'agent-a' } } };
const removed: RemovedSession[] = [
  { sub: 'user', sid: 's1', exp: 100, aud: 'https://api', agent: 'a', act: { sub: 'a' } },
  { sid: 's2', agent: 'b', aud: 'https://api', exp: 200, sub: 'user' },
];
const targets: KillTarget[] = [{ of: 'session', sid: 's1', reason: 'admin' }, { of: 'agent', agent: 'a' }, { of: 'subject', sub: 'user' }];

describe('record builders write canonical records', () => {
  it.each(contexts)('token.issued: root, on-behalf-of and delegated, with and without an admin session (%o)', (context) => {
    const base = { agent: 'a', aud: 'https://api', exp: 400, iat: 100, scope: ['r', 'w'], sid: 'root', sub: 'a' };
    canonical(tokenIssued(base, undefined, 'client_credentials', context, NOW));
    canonical(tokenIssued({ ...base, sub: 'user', act: { sub: 'a' } }, undefined, 'token-exchange', context, NOW));
    canonical(tokenIssued({ ...base, sid: 'root.child', agent: 'agent-c', act }, { sid: 'root', agent: 'agent-b' }, 'token-exchange', context, NOW));
    canonical(tokenIssued({ ...base, sub: 'user', act: { sub: 'a' } }, undefined, 'jwt-bearer', context, NOW, { jti: 'j-1', iss: 'https://idp' }));
  });

  it('an act chain is rewritten with act before sub at every depth', () => {
    expect(JSON.stringify(canonicalActor(act))).toBe('{"act":{"act":{"sub":"agent-a"},"sub":"agent-b"},"sub":"agent-c"}');
  });

  it.each(contexts)('revocation.requested and every kill outcome, for each kind of target (%o)', (context) => {
    for (const target of targets) {
      canonical(revocationRequested(target, 'admin', context, NOW));
      canonical(killOutcome(target, removed, 'admin', context, NOW));
      canonical(killOutcome(target, [], 'admin', context, NOW));
    }
  });

  it.each(contexts)('revocation.announced (%o)', (context) => {
    canonical(revocationAnnounced('kill-1', 'agent', [{ agent: 'a', aud: 'https://api', exp: 1, sid: 's', sub: 'u' }], 'agent-sts', context, NOW));
  });

  it.each(contexts)('resource_server.probed, its cases with and without a note and a latency (%o)', (context) => {
    const at = '2026-12-07T12:00:00.000Z';
    canonical(resourceServerProbed({
      resourceServer: 'https://api', target: 'https://api/authz', scope: null, dpop: false, verdict: 'kill_blind', killLatencyMs: null, killWaitMs: 10_000,
      startedAt: at, finishedAt: at,
      cases: [
        { id: 'baseline', outcome: 'pass', status: 200, challenge: null },
        { id: 'killed', outcome: 'fail', status: 200, challenge: null, note: 'still accepted', latencyMs: null },
      ],
    }, 'admin', context, NOW));
  });
});
