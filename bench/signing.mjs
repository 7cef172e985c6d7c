// node bench/signing.mjs: what one signature costs per signing algorithm agent-sts offers, signed
// as the key store signs (node:crypto, synchronously, an access token's signing input), and what
// one verification costs a resource server. No server, no Redis; SIGNING_ITERATIONS signatures
// per algorithm (default 2000) after a warm-up, best of SIGNING_ROUNDS (default 3).
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import { performance } from 'node:perf_hooks';

const ITERATIONS = Number(process.env.SIGNING_ITERATIONS ?? 2_000);
const ROUNDS = Number(process.env.SIGNING_ROUNDS ?? 3);
const WARM_UP = 200;

/** As src/keys/keystore.ts signs each algorithm; keys generated as `keys rotate --alg` makes them. */
const ALGS = {
  ES256: { pair: () => generateKeyPairSync('ec', { namedCurve: 'P-256' }), digest: 'sha256', options: { dsaEncoding: 'ieee-p1363' } },
  EdDSA: { pair: () => generateKeyPairSync('ed25519'), digest: null, options: {} },
  RS256: { pair: () => generateKeyPairSync('rsa', { modulusLength: 2048 }), digest: 'sha256', options: {} },
};

// A delegated access token's header and claims, about the size agent-sts signs (~420 bytes of input).
const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
const input = Buffer.from(`${b64({ typ: 'at+jwt', alg: 'XX256', kid: 'm0abcdefgh-AbCdEfGh' })}.${b64({
  iss: 'https://sts.example.com', sub: 'billing-agent', aud: 'https://api.example.com', client_id: 'sub-agent',
  scope: 'invoices:read invoices:write', iat: 1_800_000_000, exp: 1_800_000_300, jti: 'x'.repeat(22), sid: 's'.repeat(22),
  act: { sub: 'sub-agent', act: { sub: 'billing-agent' } },
})}`, 'latin1');

/** Microseconds per call of `fn`, best of ROUNDS rounds of ITERATIONS calls. */
function perCallUs(fn) {
  for (let i = 0; i < WARM_UP; i++) fn();
  let best = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = performance.now();
    for (let i = 0; i < ITERATIONS; i++) fn();
    best = Math.min(best, ((performance.now() - t0) * 1000) / ITERATIONS);
  }
  return best;
}

const rows = [];
for (const [alg, { pair, digest, options }] of Object.entries(ALGS)) {
  const { privateKey } = pair();
  // imported from its JWK, as the key store imports a key file
  const key = createPrivateKey({ key: privateKey.export({ format: 'jwk' }), format: 'jwk' });
  const pub = createPublicKey(key);
  const signature = sign(digest, input, { key, ...options });
  if (!verify(digest, input, { key: pub, ...options }, signature)) throw new Error(`${alg}: the signature does not verify`);
  const signUs = perCallUs(() => sign(digest, input, { key, ...options }));
  const verifyUs = perCallUs(() => verify(digest, input, { key: pub, ...options }, signature));
  rows.push({ alg, signUs, verifyUs, sigChars: signature.toString('base64url').length });
}

const es256 = rows.find((r) => r.alg === 'ES256').signUs;
console.log(`node ${process.version}, ${ITERATIONS} calls x best of ${ROUNDS}, ${input.length}-byte signing input`);
console.log('alg     sign µs  signs/s/core  vs ES256  verify µs  signature chars');
for (const r of rows) {
  console.log(`${r.alg.padEnd(6)} ${r.signUs.toFixed(1).padStart(8)} ${Math.round(1e6 / r.signUs).toLocaleString('en-US').padStart(13)} `
    + `${(r.signUs / es256).toFixed(1).padStart(8)}x ${r.verifyUs.toFixed(1).padStart(10)} ${String(r.sigChars).padStart(16)}`);
}
