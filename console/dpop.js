// DPoP (RFC 9449) for the console: an ES256 key pair made by WebCrypto for each login, its private
// key not extractable (no script, ours included, can read it out), held in memory only. Every
// request to /token and /admin carries a fresh proof signed with it, so a copied admin token is
// worth nothing without this tab.

const ALG = { name: 'ECDSA', namedCurve: 'P-256' };
const SIGN = { name: 'ECDSA', hash: 'SHA-256' };
const encoder = new TextEncoder();

const b64url = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const b64json = (value) => b64url(encoder.encode(JSON.stringify(value)));

/** A new key; WebCrypto exists only in a secure context (https, or http on localhost). */
export async function newKey() {
  if (!globalThis.crypto?.subtle) throw new Error('this page is not a secure context: open the console over https (or on localhost)');
  const { privateKey, publicKey } = await crypto.subtle.generateKey(ALG, false, ['sign', 'verify']);
  const { kty, crv, x, y } = await crypto.subtle.exportKey('jwk', publicKey);
  return { privateKey, jwk: { kty, crv, x, y } };
}

/** A proof for `method` on `url` (query and fragment dropped), with `ath` when it goes with an access token. */
export async function proof(key, method, url, accessToken) {
  const { origin, pathname } = new URL(url);
  const claims = { jti: crypto.randomUUID(), htm: method, htu: origin + pathname, iat: Math.floor(Date.now() / 1000) };
  if (accessToken) claims.ath = b64url(await crypto.subtle.digest('SHA-256', encoder.encode(accessToken)));
  const input = `${b64json({ typ: 'dpop+jwt', alg: 'ES256', jwk: key.jwk })}.${b64json(claims)}`;
  // WebCrypto's ECDSA signature is r || s, exactly the JWS form (RFC 7518 §3.4).
  return `${input}.${b64url(await crypto.subtle.sign(SIGN, key.privateKey, encoder.encode(input)))}`;
}
