import { generateKeyPair, type CryptoKey } from 'jose';

/**
 * Public keys whose private halves were thrown away at birth. A client assertion whose client is
 * unknown, or has no key matching the assertion's header, is verified against the decoy of its
 * `alg` instead of being refused at once, so "no such client" costs the same signature check as
 * "wrong signature" and timing cannot tell which agents exist. A decoy can never verify anything.
 * Generated on first use per algorithm (an RSA key takes tens of milliseconds), once per instance.
 */
export class DecoyKeys {
  readonly #byAlg = new Map<string, Promise<CryptoKey>>();

  keyFor(alg: string): Promise<CryptoKey> {
    let key = this.#byAlg.get(alg);
    if (!key) {
      key = generateKeyPair(alg, alg === 'EdDSA' ? { crv: 'Ed25519' } : {}).then((pair) => pair.publicKey);
      this.#byAlg.set(alg, key);
    }
    return key;
  }
}
