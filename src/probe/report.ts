import { z } from 'zod';

/**
 * What an enforcement probe found at one URL of one resource server: every case with its HTTP
 * evidence, and the verdict that follows. One shape for the CLI's JSON, the admin API's body
 * (checked by `probeReportSchema`) and the `resource_server.probed` record.
 */

/** The cases, in the order they run (RFC 6750, RFC 9449, RFC 9728 name what each expects). */
export const PROBE_CASES = {
  no_token: 'no token: 401 with a Bearer (or DPoP) challenge',
  baseline: 'a valid token: 2xx (else the setup is wrong and the probe stops)',
  other_audience: 'a token for another audience: refused',
  other_key: 'the same claims signed by another key: refused',
  other_issuer: 'the same claims from another issuer: refused',
  expired: 'an expired token (lifetime 1 s, waited out): refused',
  killed: 'a token killed at the STS: refused, and how soon',
  disabled_delegator: "a sub-agent's token whose delegating agent was disabled: refused",
  missing_scope: 'a token without the required scope: 403 insufficient_scope',
  dpop_as_bearer: 'a DPoP-bound token sent as Bearer: refused',
  dpop_other_url: 'a DPoP proof made for another URL: refused',
  query_string: 'the token in the query string: 400 or 401, never 2xx',
} as const;
export type ProbeCaseId = keyof typeof PROBE_CASES;
export const PROBE_CASE_IDS = Object.keys(PROBE_CASES) as [ProbeCaseId, ...ProbeCaseId[]];

export const OUTCOMES = ['pass', 'fail', 'not_applicable'] as const;
export type Outcome = (typeof OUTCOMES)[number];

/**
 * enforcing: every case passed. open: a request without a valid signature got through.
 * audience_blind: a token for another audience got through. kill_blind: signature and audience
 * checked, a killed token kept working (a JWT check without a revocation feed). partially_enforcing:
 * another case failed (expiry, scope, DPoP binding, the query string). setup_wrong: the baseline
 * token was refused, so nothing else means anything.
 */
export const VERDICTS = ['enforcing', 'kill_blind', 'audience_blind', 'open', 'partially_enforcing', 'setup_wrong'] as const;
export type Verdict = (typeof VERDICTS)[number];

/** Bounds on what a report may say (the admin API refuses a longer one). */
export const MAX_URL_CHARS = 2_000;
export const MAX_CHALLENGE_CHARS = 500;
export const MAX_NOTE_CHARS = 300;
const MAX_ID_CHARS = 2_000;
export const MAX_SCOPE_CHARS = 200;
/** A kill wait longer than this is not a probe any more. */
export const MAX_KILL_WAIT_MS = 300_000;

const httpStatus = z.number().int().min(100).max(599);

export const probeCaseSchema = z.object({
  id: z.enum(PROBE_CASE_IDS),
  outcome: z.enum(OUTCOMES),
  /** The answer's status (for a wait: the first refusal, else the last answer); null when nothing was sent. */
  status: httpStatus.nullable(),
  /** Its WWW-Authenticate, as sent (cut at 500 characters). */
  challenge: z.string().max(MAX_CHALLENGE_CHARS).nullable(),
  /** Why not applicable, what deviated from the RFC while still refusing, or what failed. */
  note: z.string().max(MAX_NOTE_CHARS).optional(),
  /** killed and disabled_delegator: ms from the STS's answer to the first refusal (null: none within the wait). */
  latencyMs: z.number().int().min(0).max(MAX_KILL_WAIT_MS).nullable().optional(),
}).strict();
export type ProbeCase = z.infer<typeof probeCaseSchema>;

export const probeReportSchema = z.object({
  resourceServer: z.string().min(1).max(MAX_ID_CHARS),
  target: z.string().max(MAX_URL_CHARS).refine((u) => URL.canParse(u) && /^https?:/.test(u), 'an http(s) URL'),
  scope: z.string().min(1).max(MAX_SCOPE_CHARS).nullable(),
  dpop: z.boolean(),
  verdict: z.enum(VERDICTS),
  /** The killed case's latency (ms), or null when no refusal came within `killWaitMs`. */
  killLatencyMs: z.number().int().min(0).max(MAX_KILL_WAIT_MS).nullable(),
  killWaitMs: z.number().int().min(1).max(MAX_KILL_WAIT_MS),
  startedAt: z.string().datetime(),
  finishedAt: z.string().datetime(),
  cases: z.array(probeCaseSchema).min(1).max(PROBE_CASE_IDS.length)
    .refine((cs) => new Set(cs.map((c) => c.id)).size === cs.length, 'each case at most once'),
}).strict();
export type ProbeReport = z.infer<typeof probeReportSchema>;

const accepted = (cases: readonly ProbeCase[], ...ids: ProbeCaseId[]) => cases.some((c) => ids.includes(c.id) && c.outcome === 'fail');

/** The verdict the cases add up to, worst first. */
export function verdictOf(cases: readonly ProbeCase[]): Verdict {
  const baseline = cases.find((c) => c.id === 'baseline');
  if (!baseline || baseline.outcome !== 'pass') return 'setup_wrong';
  if (accepted(cases, 'no_token', 'other_key', 'other_issuer')) return 'open';
  if (accepted(cases, 'other_audience')) return 'audience_blind';
  if (accepted(cases, 'killed', 'disabled_delegator')) return 'kill_blind';
  if (cases.some((c) => c.outcome === 'fail')) return 'partially_enforcing';
  return 'enforcing';
}

/** What each verdict says of the API, for people. */
export const VERDICT_TEXT: Record<Verdict, string> = {
  enforcing: 'enforcing: every case refused as it should',
  kill_blind: 'kill-blind: signature and audience checked, kills not seen (validates JWTs locally without a revocation feed?)',
  audience_blind: 'audience-blind: accepts tokens issued for another audience',
  open: 'open: accepts requests without a valid token',
  partially_enforcing: 'partially enforcing: see the failed cases',
  setup_wrong: 'setup wrong: the API refused a valid token; check --target, --scope, --dpop and its configuration',
};
