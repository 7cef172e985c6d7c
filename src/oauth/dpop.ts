import type { Agent } from '../clients/types.js';
import { OAuthError } from '../errors.js';
import type { DpopConfirmation } from '../protocol/dpop.js';
import { DpopProofError, useProofOnce, verifyProof, type ProofKeyCache } from '../rs/dpop.js';
import type { ReplayStore } from '../store/index.js';
import type { OAuthRequest } from './request.js';

export interface DpopContext {
  replay: ReplayStore;
  dpopKeys: ProofKeyCache;
  nowMs(): number;
}

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
  // node joins repeated headers with ', '; a compact JWS never contains a comma (RFC 9449 §4.3: one header only).
  if (Array.isArray(header) || header.includes(',')) throw invalidDpopProof('send exactly one DPoP header').because('dpop_invalid');
  try {
    const nowMs = ctx.nowMs();
    const proof = await verifyProof(header, { method: req.method, url: req.endpointUrl, nowMs }, ctx.dpopKeys);
    const replay = { useOnce: (key: string, expiresAtMs: number) => ctx.replay.useOnce(key, expiresAtMs, nowMs) };
    if (!(await useProofOnce(replay, proof))) throw invalidDpopProof('the DPoP proof was already used').because('dpop_replayed');
    return { jkt: proof.jkt };
  } catch (err) {
    throw err instanceof DpopProofError ? invalidDpopProof(err.description).because('dpop_invalid') : err;
  }
}
