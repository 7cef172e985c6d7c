import path from 'node:path';
import type { Command } from 'commander';
import { ISSUER_SIGNING_ALGORITHMS } from 'agent-sts-gate/protocol';
import { addKey, type SigningAlg } from '../keys/keystore.js';
import { usageError, type CliIo } from './io.js';

const ALGS: readonly string[] = ISSUER_SIGNING_ALGORITHMS;

/**
 * `keys rotate [ES256|EdDSA]`: adds a new signing key to STS_KEYS_DIR; older keys stay published so
 * their tokens keep verifying until expiry.
 */
export function register(program: Command, io: CliIo): void {
  program.command('keys').description('signing keys in STS_KEYS_DIR (on the server host)')
    .command('rotate').description('add a signing key to STS_KEYS_DIR (then SIGHUP the server)')
    .argument('[alg]', 'ES256 or EdDSA', 'ES256')
    .action(async (alg: string) => {
      if (!ALGS.includes(alg)) throw usageError(`unknown algorithm '${alg}': ES256 or EdDSA`);
      const dir = path.resolve(io.cwd, io.env.STS_KEYS_DIR ?? 'keys');
      const key = await addKey(dir, alg as SigningAlg);
      io.stdout.write(`added ${alg} key ${key.kid} to ${dir}; send SIGHUP to running instances (or restart) to sign with it\n`);
    });
}
