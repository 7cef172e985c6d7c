import { newSecret } from '../clients/secret.js';
import { EXIT, type CliIo } from './io.js';

/** `new-secret`: a fresh client secret (32 random bytes, base64url). */
export function run(argv: readonly string[], io: CliIo): number {
  if (argv.length) {
    io.stderr.write('usage: agent-sts new-secret\n');
    return EXIT.usage;
  }
  io.stdout.write(`${newSecret()}\n`);
  return EXIT.ok;
}
