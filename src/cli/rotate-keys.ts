import path from 'node:path';
import { addKey, type SigningAlg } from '../keys/keystore.js';

/** Adds a new signing key; older keys stay published so their tokens keep verifying until expiry. */
const dir = path.resolve(process.env.STS_KEYS_DIR ?? 'keys');
const alg = (process.argv[2] ?? 'ES256') as SigningAlg;
if (alg !== 'ES256' && alg !== 'EdDSA') {
  process.stderr.write('usage: npm run keys:rotate -- [ES256|EdDSA]\n');
  process.exit(2);
}
const key = await addKey(dir, alg);
process.stdout.write(`added ${alg} key ${key.kid} to ${dir}; send SIGHUP to running instances (or restart) to sign with it\n`);
