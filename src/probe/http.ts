import { DPOP_TOKEN_TYPE, parseChallenges, type DpopSigner } from 'agent-sts-gate/protocol';
import { MAX_CHALLENGE_CHARS } from './report.js';

/** How the probe presents requests to the API and reads its answers. */

/** A request the API has not answered within this counts as no answer. */
const REQUEST_TIMEOUT_MS = 10_000;

/** What the API answered: the status and its WWW-Authenticate, or why there was no answer. */
export interface Evidence {
  status: number | null;
  challenge: string | null;
  error?: string;
}

/** How a token travels: in the Authorization header (Bearer, or DPoP with a proof for `proofUrl`), or in the query string. */
export type Presentation =
  | { as: 'none' }
  | { as: 'bearer'; token: string }
  | { as: 'dpop'; token: string; proofUrl?: string }
  | { as: 'query'; token: string };

export type Fetch = (url: string, init: RequestInit) => Promise<Response>;

/** One GET of `target` as `how` says; the body is dropped, redirects are not followed (a 3xx is evidence). */
export async function present(target: string, how: Presentation, signer: DpopSigner | undefined, send: Fetch): Promise<Evidence> {
  const headers: Record<string, string> = {};
  let url = target;
  if (how.as === 'bearer') headers.Authorization = `Bearer ${how.token}`;
  if (how.as === 'dpop') {
    if (!signer) throw new Error('a DPoP presentation needs the probe\'s proof key');
    headers.Authorization = `${DPOP_TOKEN_TYPE} ${how.token}`;
    headers.DPoP = await signer.proof('GET', how.proofUrl ?? target, { accessToken: how.token });
  }
  if (how.as === 'query') {
    const u = new URL(target);
    u.searchParams.set('access_token', how.token);
    url = u.href;
  }
  try {
    const res = await send(url, { method: 'GET', headers, redirect: 'manual', signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    await res.body?.cancel();
    const challenge = res.headers.get('www-authenticate');
    return { status: res.status, challenge: challenge === null ? null : challenge.slice(0, MAX_CHALLENGE_CHARS) };
  } catch (err) {
    const cause = (err as { cause?: { code?: unknown } }).cause;
    return { status: null, challenge: null, error: typeof cause?.code === 'string' ? cause.code : (err as Error).message };
  }
}

export const isAccepted = (e: Evidence) => e.status !== null && e.status >= 200 && e.status < 300;
/** 400 (RFC 6750 §3.1 invalid_request), 401 and 403: the API said no. */
export const isRefused = (e: Evidence) => e.status === 400 || e.status === 401 || e.status === 403;

/** The challenges of a WWW-Authenticate, or none when it is absent or not RFC 9110 syntax. */
export function challengesOf(e: Evidence): { scheme: string; params: Record<string, string> }[] {
  if (!e.challenge) return [];
  try {
    return parseChallenges(e.challenge);
  } catch {
    return [];
  }
}

/** Whether the answer carries a Bearer or DPoP challenge, and its `error` if any. */
export function tokenChallenge(e: Evidence): { scheme: string; error?: string; resourceMetadata?: string } | undefined {
  const c = challengesOf(e).find((x) => /^(bearer|dpop)$/i.test(x.scheme));
  if (!c) return undefined;
  return { scheme: c.scheme, ...(c.params.error ? { error: c.params.error } : {}), ...(c.params.resource_metadata ? { resourceMetadata: c.params.resource_metadata } : {}) };
}
