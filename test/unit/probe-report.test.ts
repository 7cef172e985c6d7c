import { describe, expect, it } from '@jest/globals';
import { showReport } from '../../src/cli/probe.js';
import { PROBE_CASE_IDS, probeReportSchema, verdictOf, type ProbeCase, type ProbeCaseId, type ProbeReport } from '../../src/probe/report.js';

/** The verdict a probe's cases add up to, worst first, and the report's bounds. */

const c = (id: ProbeCaseId, outcome: ProbeCase['outcome'] = 'pass'): ProbeCase => ({ id, outcome, status: outcome === 'fail' ? 200 : 401, challenge: null });
const all = (fails: ProbeCaseId[] = [], na: ProbeCaseId[] = []) => PROBE_CASE_IDS.map((id) => c(id, fails.includes(id) ? 'fail' : na.includes(id) ? 'not_applicable' : 'pass'));

describe('verdictOf', () => {
  it.each([
    ['every case passed (some not applicable)', all([], ['dpop_as_bearer', 'dpop_other_url']), 'enforcing'],
    ['the baseline failed, whatever else', all(['baseline', 'no_token']), 'setup_wrong'],
    ['no baseline at all', [c('no_token')], 'setup_wrong'],
    ['no token accepted', all(['no_token', 'other_audience', 'killed']), 'open'],
    ['a forged signature accepted', all(['other_key']), 'open'],
    ['another issuer accepted', all(['other_issuer']), 'open'],
    ['another audience accepted, kills too', all(['other_audience', 'killed']), 'audience_blind'],
    ['a killed token accepted', all(['killed', 'query_string']), 'kill_blind'],
    ['a disabled delegator\'s chain accepted', all(['disabled_delegator']), 'kill_blind'],
    ['an expired token accepted', all(['expired']), 'partially_enforcing'],
    ['a missing scope accepted', all(['missing_scope']), 'partially_enforcing'],
    ['a DPoP-bound token as Bearer accepted', all(['dpop_as_bearer']), 'partially_enforcing'],
  ] as const)('%s: %s', (_what, cases, verdict) => {
    expect(verdictOf(cases)).toBe(verdict);
  });
});

describe('the report schema (the admin API\'s body)', () => {
  const at = '2026-12-07T12:00:00.000Z';
  const report: ProbeReport = {
    resourceServer: 'https://api', target: 'https://api/authz', scope: 'r', dpop: false, verdict: 'enforcing', killLatencyMs: 12, killWaitMs: 10_000,
    startedAt: at, finishedAt: at, cases: all(),
  };

  it('takes a whole report', () => {
    expect(probeReportSchema.parse(report)).toEqual(report);
  });

  it.each([
    ['a challenge over 500 characters', { cases: [{ ...c('baseline'), challenge: 'x'.repeat(501) }] }],
    ['a case the probe does not run', { cases: [{ ...c('baseline'), id: 'other' }] }],
    ['more cases than there are', { cases: [...all(), c('baseline')] }],
    ['a target that is not http(s)', { target: 'file:///etc/passwd' }],
    ['a status that is not HTTP', { cases: [{ ...c('baseline'), status: 99 }] }],
    ['a kill latency over the bound', { killLatencyMs: 300_001 }],
  ])('refuses %s', (_what, change) => {
    expect(probeReportSchema.safeParse({ ...report, ...change }).success).toBe(false);
  });
});

describe('showReport (the table for people)', () => {
  it('says the verdict, the kill latency and one line per case, with its evidence', () => {
    const text = showReport({
      resourceServer: 'https://api', target: 'https://api/authz', scope: null, dpop: false, verdict: 'kill_blind', killLatencyMs: null, killWaitMs: 3_000,
      startedAt: '2026-12-07T12:00:00.000Z', finishedAt: '2026-12-07T12:00:05.000Z',
      cases: [
        { id: 'baseline', outcome: 'pass', status: 200, challenge: null },
        { id: 'killed', outcome: 'fail', status: 200, challenge: null, note: 'still accepted 3000 ms after the kill answered', latencyMs: null },
        { id: 'expired', outcome: 'pass', status: 401, challenge: 'Bearer error="invalid_token"\u001b[2J', latencyMs: 40 },
      ],
    });
    expect(text.split('\n')).toEqual([
      'resource server: https://api',
      'target:          https://api/authz',
      expect.stringMatching(/^verdict: +kill-blind: signature and audience checked, kills not seen/),
      'kill latency:    no refusal within 3000 ms',
      '',
      'CASE      RESULT  STATUS  CHALLENGE                         NOTE',
      'baseline  pass    200     -                                 -',
      'killed    fail    200     -                                 still accepted 3000 ms after the kill answered',
      'expired   pass    401     Bearer error="invalid_token"?[2J  after 40 ms',
      '',
    ]);
  });
});
