// DPoP proofs for the DPoP issuance scenario. autocannon's request hook is synchronous and jose signs
// asynchronously, so each run gets a pool signed just before it (one key, a fresh jti per proof).
import { dpopSigner } from 'agent-sts-gate/protocol';

/** More /token requests per second than this machine class serves: the pool covers a whole run at this rate. */
export const MAX_PROOFS_PER_SECOND = 8_000;
/** Proofs are accepted for 60 s after their iat (DPOP_PROOF_MAX_AGE_SECONDS); signing takes a few seconds too. */
export const MAX_RUN_SECONDS = 40;
const SIGN_BATCH = 1_000;

export async function dpopProofs(htu) {
  const signer = await dpopSigner();
  const sign = () => signer.proof('POST', htu);
  let pool = [];
  let next = 0;
  return {
    sign,
    /** Signs enough proofs for `seconds` of load; a run that outlasts them gets 400s, counted as non-2xx. */
    async prepare(seconds) {
      if (seconds > MAX_RUN_SECONDS) throw new Error(`the DPoP scenario runs at most ${MAX_RUN_SECONDS} s at a time (its proofs expire)`);
      pool = [];
      next = 0;
      const n = seconds * MAX_PROOFS_PER_SECOND;
      for (let i = 0; i < n; i += SIGN_BATCH) pool.push(...(await Promise.all(Array.from({ length: Math.min(SIGN_BATCH, n - i) }, sign))));
    },
    setupRequest: (req) => ({ ...req, headers: { ...req.headers, dpop: pool[next++] ?? 'proof-pool-exhausted' } }),
  };
}
