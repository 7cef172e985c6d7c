import { decodeJwt, decodeProtectedHeader, generateKeyPair, SignJWT, type JWTPayload } from 'jose';
import {
  clientCredentialsGrant, dpopSigner, expiresAtMs, requestToken, TokenRequestError, tokenExchangeGrant, WELL_KNOWN, wellKnownUrl, type DpopSigner,
} from 'agent-sts-gate/protocol';
import { OTHER_AUDIENCE, OTHER_AUDIENCE_SCOPE, probeAgents, type ProbeAgentSpec } from './agents.js';
import { isAccepted, isRefused, present, tokenChallenge, type Evidence, type Fetch, type Presentation } from './http.js';
import { MAX_KILL_WAIT_MS, MAX_NOTE_CHARS, verdictOf, type ProbeCase, type ProbeCaseId, type ProbeReport, PROBE_CASE_IDS } from './report.js';

/**
 * The enforcement probe: an uncooperative agent, from outside. Its agents get real tokens from the
 * STS the normal way; each case presents one to the API's URL and records what the API answered.
 * The STS side (registry, kills) goes through `ProbeAdmin`, which the CLI implements over the
 * admin API; the probe itself speaks only OAuth and HTTP.
 */

/** What the probe asks of the STS's admin side. */
export interface ProbeAdmin {
  /** The registered resource server's scopes (throws when there is no such resource server). */
  resourceServerScopes(id: string): Promise<string[]>;
  /** Registers the resource server with `scopes` unless it exists (its client secret is not kept: nothing calls as it). */
  ensureResourceServer(id: string, scopes: string[]): Promise<void>;
  /** The agent exactly as `spec` says, enabled, with a new client secret (returned) and no other. */
  provisionAgent(spec: ProbeAgentSpec): Promise<string>;
  /** Kills the session and its subtree; how many were still alive (0 for one already gone). */
  killSession(sid: string): Promise<number>;
  disableAgent(id: string): Promise<void>;
  enableAgent(id: string): Promise<void>;
}

export interface ProbeOptions {
  /** The STS's base URL (its issuer): tokens come from `<stsUrl>/token`. */
  stsUrl: string;
  resourceServer: string;
  /** A URL of the API that a GET may call. */
  target: string;
  /** The scope the URL requires, when it requires one. */
  scope?: string;
  /** The API takes DPoP-bound tokens only: every token is bound to the probe's key and sent with a proof. */
  dpop?: boolean;
  /** How long the killed and disabled-delegator cases wait for a refusal (default 10 s). */
  killWaitMs?: number;
  /** How long after its exp the expired token may still be accepted before the case fails (default 60 s: an API's clock leeway). */
  expiryGraceMs?: number;
  /** Pause between two tries while waiting (default 100 ms). */
  pollEveryMs?: number;
  fetch?: Fetch;
  nowMs?: () => number;
}

/** The probe cannot run as asked (the scope is not the resource server's, say): nothing was probed. */
export class ProbeSetupError extends Error {
  override name = 'ProbeSetupError';
}

/** How long the killed and disabled-delegator cases wait for a refusal unless told otherwise. */
export const DEFAULT_KILL_WAIT_MS = 10_000;
const DEFAULT_EXPIRY_GRACE_MS = 60_000;
const DEFAULT_POLL_EVERY_MS = 100;
/** The issuer of the other-issuer case: `.invalid` names no host (RFC 2606). */
const OTHER_ISSUER = 'https://issuer.agent-sts-probe.invalid';
/** Where a proof for another URL points: a path of the same origin the API does not serve. */
const OTHER_PATH = '/agent-sts-probe/other-url';
const FALLBACK_ALG = 'ES256';
/** The expiring agent's tokens live 1 s; one living longer than this was not issued as asked (a registry copy not yet updated). */
const MAX_EXPIRING_LIFETIME_MS = 5_000;
/**
 * The STS refuses (invalid_grant, "retry") a token whose agent had its sessions killed within its
 * clock-skew window (1 s): the previous probe's disable. Tried again after this pause, at most
 * TOKEN_RETRIES more times.
 */
const TOKEN_RETRY_PAUSE_MS = 1_100;
const TOKEN_RETRIES = 2;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

type Outcome = Pick<ProbeCase, 'outcome' | 'note'>;
const pass = (note?: string): Outcome => ({ outcome: 'pass', ...(note ? { note } : {}) });
const fail = (note: string): Outcome => ({ outcome: 'fail', note });

function caseOf(id: ProbeCaseId, e: Evidence | undefined, o: Outcome, latencyMs?: number | null): ProbeCase {
  return {
    id, outcome: o.outcome, status: e?.status ?? null, challenge: e?.challenge ?? null,
    ...(o.note ? { note: o.note.slice(0, MAX_NOTE_CHARS) } : {}), ...(latencyMs !== undefined ? { latencyMs } : {}),
  };
}
const notApplicable = (id: ProbeCaseId, note: string): ProbeCase => caseOf(id, undefined, { outcome: 'not_applicable', note });

/** A token that should be refused: refused passes (with a note where the answer is not RFC 6750's 401 invalid_token), accepted fails. */
function judgeRefusal(e: Evidence): Outcome {
  if (e.status === null) return fail(`no answer: ${e.error ?? 'unknown'}`);
  if (isAccepted(e)) return fail(`accepted (${e.status})`);
  if (!isRefused(e)) return fail(`answered ${e.status}, which is not a refusal`);
  const c = tokenChallenge(e);
  if (e.status !== 401) return pass(`refused with ${e.status}; RFC 6750 says 401 invalid_token`);
  if (!c) return pass('refused, but without a Bearer or DPoP challenge (RFC 6750 §3)');
  return pass();
}

/** Waits for the API to refuse: asks every `everyMs` until a refusal or `withinMs` after `sinceMs`. */
async function firstRefusal(ask: () => Promise<Evidence>, sinceMs: number, withinMs: number, everyMs: number, nowMs: () => number) {
  for (;;) {
    const e = await ask();
    const elapsed = Math.max(0, nowMs() - sinceMs);
    if (isRefused(e)) return { e, latencyMs: Math.min(elapsed, MAX_KILL_WAIT_MS) };
    if (!isAccepted(e) || elapsed >= withinMs) return { e, latencyMs: null };
    await sleep(Math.min(everyMs, withinMs - elapsed));
  }
}

/** The same claims (and header) signed by a key nobody trusts, optionally with another issuer. */
async function forged(token: string, issuer?: string): Promise<string> {
  const header = decodeProtectedHeader(token);
  const claims: JWTPayload = decodeJwt(token);
  let alg = typeof header.alg === 'string' ? header.alg : FALLBACK_ALG;
  let key;
  try {
    key = await generateKeyPair(alg);
  } catch {
    alg = FALLBACK_ALG;
    key = await generateKeyPair(alg);
  }
  return new SignJWT({ ...claims, ...(issuer ? { iss: issuer } : {}) })
    .setProtectedHeader({ ...header, alg, ...(issuer ? { kid: 'agent-sts-probe' } : {}) })
    .sign(key.privateKey);
}

/** Whether the API publishes RFC 9728 metadata for the resource (then its challenges should point to it). */
async function publishesMetadata(resourceServer: string, target: string, send: Fetch): Promise<boolean> {
  if (!URL.canParse(resourceServer) || !/^https?:/.test(resourceServer) || new URL(resourceServer).origin !== new URL(target).origin) return false;
  try {
    const res = await send(wellKnownUrl(resourceServer, WELL_KNOWN.protectedResource), { headers: { Accept: 'application/json' }, redirect: 'manual', signal: AbortSignal.timeout(5_000) });
    const body = res.ok ? ((await res.json()) as { resource?: unknown }) : undefined;
    if (!res.ok) await res.body?.cancel();
    return typeof body?.resource === 'string';
  } catch {
    return false;
  }
}

/** Runs every case against `o.target`: the report, and how many of the probe's sessions were killed at the end (whatever happened, none outlives it). */
/** The STS's token endpoint, as the probe calls it (the scheduled probe lets exactly this URL past its address rules). */
export const tokenUrlOf = (stsUrl: string): string => `${stsUrl.replace(/\/+$/, '')}/token`;

export async function runProbe(o: ProbeOptions, admin: ProbeAdmin): Promise<{ report: ProbeReport; revoked: number }> {
  const send: Fetch = o.fetch ?? ((url, init) => fetch(url, init));
  const nowMs = o.nowMs ?? Date.now;
  const killWaitMs = Math.min(o.killWaitMs ?? DEFAULT_KILL_WAIT_MS, MAX_KILL_WAIT_MS);
  const expiryGraceMs = o.expiryGraceMs ?? DEFAULT_EXPIRY_GRACE_MS;
  const everyMs = o.pollEveryMs ?? DEFAULT_POLL_EVERY_MS;
  const startedAt = new Date(nowMs()).toISOString();
  const rs = o.resourceServer;

  const registered = await admin.resourceServerScopes(rs);
  if (o.scope !== undefined && !registered.includes(o.scope)) {
    throw new ProbeSetupError(`scope '${o.scope}' is not one of ${rs}'s scopes (${registered.join(' ')})`);
  }
  const scopes = o.scope !== undefined ? [o.scope] : registered.slice(0, 1);
  const otherScope = o.scope !== undefined ? registered.find((s) => s !== o.scope) : undefined;
  const agents = probeAgents(rs, scopes, otherScope ? [...scopes, otherScope] : scopes);
  // An agent may be entitled only at a registered target: the other audience is one, answered by no API.
  await admin.ensureResourceServer(OTHER_AUDIENCE, [OTHER_AUDIENCE_SCOPE]);
  const signer: DpopSigner | undefined = o.dpop ? await dpopSigner() : undefined;
  const secrets = new Map<string, string>();
  /** Every session the probe's tokens opened: killed at the end. */
  const sessions: string[] = [];
  let disabled = false;

  const tokenUrl = tokenUrlOf(o.stsUrl);
  const token = async (agent: ProbeAgentSpec, grant: URLSearchParams): Promise<string> => {
    for (let attempt = 0; ; attempt++) {
      try {
        const t = (await requestToken(tokenUrl, grant, {
          credentials: { clientId: agent.id, clientSecret: secrets.get(agent.id)! }, ...(signer ? { dpop: signer } : {}), fetch: send,
        })).access_token;
        const { sid } = decodeJwt(t);
        if (typeof sid === 'string') sessions.push(sid);
        return t;
      } catch (err) {
        if (!(err instanceof TokenRequestError && err.error === 'invalid_grant' && attempt < TOKEN_RETRIES)) throw err;
        await sleep(TOKEN_RETRY_PAUSE_MS);
      }
    }
  };
  const rootToken = (agent: ProbeAgentSpec, scope: string[] | undefined, resource = rs) => token(agent, clientCredentialsGrant({ resource, ...(scope ? { scope } : {}) }));
  /** How this run presents a token as the API expects it. */
  const normally = (t: string): Presentation => (signer ? { as: 'dpop', token: t } : { as: 'bearer', token: t });
  const ask = (how: Presentation) => present(o.target, how, signer, send);

  const cases = new Map<ProbeCaseId, ProbeCase>();
  const add = (c: ProbeCase) => cases.set(c.id, c);
  try {
    for (const spec of [agents.delegate, agents.expiring, agents.main]) secrets.set(spec.id, await admin.provisionAgent(spec));

    const noToken = await ask({ as: 'none' });
    const hasMetadata = await publishesMetadata(rs, o.target, send);
    add(caseOf('no_token', noToken, ((): Outcome => {
      if (isAccepted(noToken)) return fail(`accepted without a token (${noToken.status})`);
      const judged = judgeRefusal(noToken);
      if (judged.outcome !== 'pass' || judged.note) return judged;
      if (hasMetadata && !tokenChallenge(noToken)?.resourceMetadata) return pass('the API publishes RFC 9728 metadata but its challenge has no resource_metadata');
      return pass();
    })()));

    const baselineToken = await rootToken(agents.main, scopes);
    const baseline = await ask(normally(baselineToken));
    add(caseOf('baseline', baseline, isAccepted(baseline) ? pass() : fail(baseline.status === null ? `no answer: ${baseline.error}` : `a valid token was refused (${baseline.status})`)));
    if (!isAccepted(baseline)) return await report();

    const otherAudience = await rootToken(agents.main, undefined, OTHER_AUDIENCE);
    add(caseOf('other_audience', ...judged(await ask(normally(otherAudience)))));
    add(caseOf('other_key', ...judged(await ask(normally(await forged(baselineToken))))));
    add(caseOf('other_issuer', ...judged(await ask(normally(await forged(baselineToken, OTHER_ISSUER))))));

    if (o.scope === undefined) add(notApplicable('missing_scope', 'no --scope given: the URL needs no particular scope'));
    else if (!otherScope) add(notApplicable('missing_scope', `${rs} has no scope besides ${o.scope} to ask for instead`));
    else {
      const e = await ask(normally(await rootToken(agents.main, [otherScope])));
      const c = tokenChallenge(e);
      const j = judgeRefusal(e);
      add(caseOf('missing_scope', e, j.outcome !== 'pass' ? j : e.status === 403 && c?.error === 'insufficient_scope'
        ? pass() : pass(`refused with ${e.status}${c?.error ? ` ${c.error}` : ''}; RFC 6750 says 403 insufficient_scope`)));
    }

    if (!signer) {
      for (const id of ['dpop_as_bearer', 'dpop_other_url'] as const) add(notApplicable(id, 'no --dpop: the probe sent bearer tokens'));
    } else {
      add(caseOf('dpop_as_bearer', ...judged(await ask({ as: 'bearer', token: baselineToken }))));
      add(caseOf('dpop_other_url', ...judged(await ask({ as: 'dpop', token: baselineToken, proofUrl: new URL(OTHER_PATH, o.target).href }))));
    }

    const query = await ask({ as: 'query', token: baselineToken });
    add(caseOf('query_string', query, isAccepted(query) ? fail(`accepted the token in the query string (${query.status})`)
      : query.status === 400 || query.status === 401 ? pass() : query.status === null ? fail(`no answer: ${query.error}`)
        : pass(`answered ${query.status}`)));

    // The three waits run side by side: each uses its own agent's sessions. All settle before any
    // failure is thrown, so the cleanup never runs beside a case that may still disable or issue.
    const waits = await Promise.allSettled([expiredCase(), killedCase(), disabledDelegatorCase()]);
    for (const w of waits) if (w.status === 'rejected') throw w.reason;
    for (const w of waits) if (w.status === 'fulfilled') add(w.value);
    return await report();
  } catch (err) {
    // Nothing the probe made outlives it, even when it could not finish.
    await cleanup().catch(() => undefined);
    throw err;
  }

  function judged(e: Evidence): [Evidence, Outcome] {
    return [e, judgeRefusal(e)];
  }

  async function expiredCase(): Promise<ProbeCase> {
    const t = await rootToken(agents.expiring, scopes);
    const exp = decodeJwt(t).exp;
    if (typeof exp !== 'number') return notApplicable('expired', 'the token has no exp');
    const expiresMs = expiresAtMs(exp);
    if (expiresMs - nowMs() > MAX_EXPIRING_LIFETIME_MS) return notApplicable('expired', `the STS issued a token living ${Math.round((expiresMs - nowMs()) / 1000)} s, not 1 s`);
    await sleep(Math.max(0, expiresMs - nowMs()));
    const { e, latencyMs } = await firstRefusal(() => ask(normally(t)), expiresMs, expiryGraceMs, everyMs, nowMs);
    if (latencyMs === null) return caseOf('expired', e, isAccepted(e) ? fail(`still accepted ${Math.round(expiryGraceMs / 1000)} s after its exp`) : judgeRefusal(e), null);
    return caseOf('expired', e, judgeRefusal(e), latencyMs);
  }

  async function killedCase(): Promise<ProbeCase> {
    const t = await rootToken(agents.delegate, scopes);
    const before = await ask(normally(t));
    if (!isAccepted(before)) return caseOf('killed', before, { outcome: 'not_applicable', note: `the token was refused before the kill (${before.status})` });
    await admin.killSession(String(decodeJwt(t).sid));
    const { e, latencyMs } = await firstRefusal(() => ask(normally(t)), nowMs(), killWaitMs, everyMs, nowMs);
    if (latencyMs === null) return caseOf('killed', e, isAccepted(e) ? fail(`still accepted ${killWaitMs} ms after the kill answered`) : judgeRefusal(e), null);
    return caseOf('killed', e, judgeRefusal(e), latencyMs);
  }

  async function disabledDelegatorCase(): Promise<ProbeCase> {
    const parent = await rootToken(agents.main, scopes);
    const t = await token(agents.delegate, tokenExchangeGrant({ subjectToken: parent, resource: rs, scope: scopes }));
    const before = await ask(normally(t));
    if (!isAccepted(before)) return caseOf('disabled_delegator', before, { outcome: 'not_applicable', note: `the delegated token was refused before (${before.status})` });
    disabled = true;
    await admin.disableAgent(agents.main.id);
    const { e, latencyMs } = await firstRefusal(() => ask(normally(t)), nowMs(), killWaitMs, everyMs, nowMs);
    if (latencyMs === null) return caseOf('disabled_delegator', e, isAccepted(e) ? fail(`still accepted ${killWaitMs} ms after ${agents.main.id} was disabled`) : judgeRefusal(e), null);
    return caseOf('disabled_delegator', e, judgeRefusal(e), latencyMs);
  }

  /** The disabled agent enabled again, every session the probe opened killed (those the cases killed count 0). */
  async function cleanup(): Promise<number> {
    if (disabled) {
      await admin.enableAgent(agents.main.id);
      disabled = false;
    }
    let revoked = 0;
    // Each session leaves the list once killed: a failed kill leaves it and the rest for the next cleanup.
    while (sessions.length > 0) {
      revoked += await admin.killSession(sessions[0]!);
      sessions.shift();
    }
    return revoked;
  }

  async function report(): Promise<{ report: ProbeReport; revoked: number }> {
    const revoked = await cleanup();
    const list = PROBE_CASE_IDS.flatMap((id) => (cases.has(id) ? [cases.get(id)!] : []));
    const killed = cases.get('killed');
    const report: ProbeReport = {
      resourceServer: rs, target: o.target, scope: o.scope ?? null, dpop: Boolean(o.dpop), verdict: verdictOf(list),
      killLatencyMs: killed?.latencyMs ?? null, killWaitMs, startedAt, finishedAt: new Date(nowMs()).toISOString(), cases: list,
    };
    return { report, revoked };
  }
}
