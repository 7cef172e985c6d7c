import type { DpopConfirmation } from 'agent-sts-gate/protocol';
import { DpopProofError, useProofOnce, verifyProof, type DpopReplayCache, type ProofKeyCache } from 'agent-sts-gate/dpop';
import type { Agent } from '../clients/types.js';
import { OAuthError } from '../errors.js';
import type { ReplayStore } from '../store/index.js';
import type { OAuthRequest } from './request.js';

export interface DpopContext {
  replay: ReplayStore;
  dpopKeys: ProofKeyCache;
  nowMs(): number;
}

/**
 * The store's single-use ids as rs/dpop.ts's checks ask for them (the resource-server side has a
 * replay interface of its own: it may import nothing of the server): DPoP proofs' space, one
 * `SET NX PX` per proof, shared by every instance. /token and the admin API both use this.
 */
export const replayCacheOf = (replay: ReplayStore, nowMs: () => number): DpopReplayCache => ({
  useOnce: (key, expiresAtMs) => replay.useOnce('dpop-proof', key, expiresAtMs, nowMs()),
});

/** RFC 9449 §4.3: one DPoP header only. node joins repeated ones with ', '; a compact JWS never contains a comma. */
export const severalDpopHeaders = (header: string | string[] | undefined): boolean => header !== undefined && (Array.isArray(header) || header.includes(','));

/** RFC 9449 §5: a token request with a bad proof is refused with 400 invalid_dpop_proof (no challenge). */
export const invalidDpopProof = (description: string) => new OAuthError(400, 'invalid_dpop_proof', description);

/**
 * The binding a token request asks for: the proof key's thumbprint, or undefined for a bearer
 * token. The proof is checked like a resource server checks one (without `ath`: no token is
 * presented), for this endpoint's URL, and used once through the store's replay set, so every
 * instance sees every proof. An agent with `requireDpop` must send one.
 */
export async function tokenRequestBinding(ctx: DpopContext, req: OAuthRequest, agent: Agent): Promise<DpopConfirmation | undefined> {
  const header = req.headers.dpop;
  if (header === undefined) {
    if (agent.requireDpop) throw invalidDpopProof('this agent must send a DPoP proof: it is issued DPoP-bound tokens only').because('dpop_required');
    return undefined;
  }
  if (severalDpopHeaders(header)) throw invalidDpopProof('send exactly one DPoP header').because('dpop_invalid');
  try {
    const nowMs = ctx.nowMs();
    const proof = await verifyProof(header as string, { method: req.method, url: req.endpointUrl, nowMs }, ctx.dpopKeys);
    if (!(await useProofOnce(replayCacheOf(ctx.replay, () => nowMs), proof))) throw invalidDpopProof('the DPoP proof was already used').because('dpop_replayed');
    return { jkt: proof.jkt };
  } catch (err) {
    throw err instanceof DpopProofError ? invalidDpopProof(err.description).because('dpop_invalid') : err;
  }
}
