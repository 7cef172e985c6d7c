import { createLocalJWKSet, generateKeyPair, type CryptoKey, type JWK, type JWTVerifyGetKey } from 'jose';

type KeySet = { keys: JWK[] };

/**
 * The keys client assertions are verified with. Each client's key set is imported once (jose keeps
 * the imported keys with the set), and an assertion whose client is unknown, or has no key matching
 * its header, is verified against a decoy of its `alg`: a public key whose private half was thrown
 * away at birth, so it can never verify anything. "No such client" then costs the same signature
 * check as "wrong signature", and timing cannot tell which agents exist. One per instance, built by
 * the wiring file; decoys are generated on first use per algorithm (an RSA key takes tens of ms).
 */
export class AssertionKeys {
  readonly #sets = new WeakMap<KeySet, JWTVerifyGetKey>();
  readonly #decoys = new Map<string, Promise<CryptoKey>>();

  /** A jose key resolver for `jwks` (absent: the client has none) that calls `onDecoy` when it falls back. */
  resolver(jwks: KeySet | undefined, onDecoy: () => void): JWTVerifyGetKey {
    const local = jwks && this.#setOf(jwks);
    return async (header, token) => {
      if (local) {
        try {
          return await local(header, token);
        } catch {
          // no key of this client matches the header: fall through to the decoy
        }
      }
      onDecoy();
      return this.decoyFor(header.alg!);
    };
  }

  decoyFor(alg: string): Promise<CryptoKey> {
    let key = this.#decoys.get(alg);
    if (!key) {
      key = generateKeyPair(alg, alg === 'EdDSA' ? { crv: 'Ed25519' } : {}).then((pair) => pair.publicKey);
      this.#decoys.set(alg, key);
    }
    return key;
  }

  #setOf(jwks: KeySet): JWTVerifyGetKey {
    let set = this.#sets.get(jwks);
    if (!set) this.#sets.set(jwks, (set = createLocalJWKSet(jwks)));
    return set;
  }
}
