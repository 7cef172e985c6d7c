import path from 'node:path';
import { addKey, type SigningAlg } from '../keys/keystore.js';
import { EXIT, type CliIo } from './io.js';

const ALGS: readonly string[] = ['ES256', 'EdDSA'] satisfies SigningAlg[];

/**
 * `keys rotate [ES256|EdDSA]`: adds a new signing key to STS_KEYS_DIR; older keys stay published so
 * their tokens keep verifying until expiry.
 */
export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const [alg = 'ES256', ...extra] = argv;
  if (!ALGS.includes(alg) || extra.length) {
    io.stderr.write('usage: agent-sts keys rotate [ES256|EdDSA]   (npm run keys:rotate -- [ES256|EdDSA])\n');
    return EXIT.usage;
  }
  const dir = path.resolve(io.cwd, io.env.STS_KEYS_DIR ?? 'keys');
  const key = await addKey(dir, alg as SigningAlg);
  io.stdout.write(`added ${alg} key ${key.kid} to ${dir}; send SIGHUP to running instances (or restart) to sign with it\n`);
  return EXIT.ok;
}
