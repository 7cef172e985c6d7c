import path from 'node:path';
import type { Command } from 'commander';
import { ISSUER_SIGNING_ALGORITHMS } from 'agent-sts-gate/protocol';
import { addKey, type SigningAlg } from '../keys/keystore.js';
import { usageError, type CliIo } from './io.js';

const ALGS: readonly string[] = ISSUER_SIGNING_ALGORITHMS;
const DEFAULT_ALG: SigningAlg = 'ES256';
const NAMES = ALGS.join(', ');

/**
 * `keys rotate [--alg RS256|ES256|EdDSA]`: adds a new signing key to STS_KEYS_DIR; older keys stay
 * published so their tokens keep verifying until expiry. The algorithm as a bare argument
 * (`keys rotate EdDSA`) is the older spelling, still read.
 */
export function register(program: Command, io: CliIo): void {
  program.command('keys').description('signing keys in STS_KEYS_DIR (on the server host)')
    .command('rotate').description('add a signing key to STS_KEYS_DIR (then SIGHUP the server)')
    .option('--alg <alg>', `${NAMES} (default ${DEFAULT_ALG}; RSA keys are 2048 bits)`)
    .argument('[alg]', 'the same as --alg')
    .action(async (positional: string | undefined, opts: { alg?: string }) => {
      if (opts.alg !== undefined && positional !== undefined && opts.alg !== positional) {
        throw usageError(`two algorithms given ('${opts.alg}' and '${positional}'): use --alg once`);
      }
      const alg = opts.alg ?? positional ?? DEFAULT_ALG;
      if (!ALGS.includes(alg)) throw usageError(`unknown algorithm '${alg}': ${NAMES}`);
      const dir = path.resolve(io.cwd, io.env.STS_KEYS_DIR ?? 'keys');
      const key = await addKey(dir, alg as SigningAlg);
      io.stdout.write(`added ${alg} key ${key.kid} to ${dir}; send SIGHUP to running instances (or restart) to sign with it\n`);
    });
}
