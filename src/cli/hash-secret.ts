import { hashSecret } from '../clients/secret.js';
import { EXIT, type CliIo } from './io.js';

/** `hash-secret <secret>`: the registry's `secretHash` for a client secret. */
export function run(argv: readonly string[], io: CliIo): number {
  const [secret, ...extra] = argv;
  if (!secret || extra.length) {
    io.stderr.write('usage: agent-sts hash-secret <secret>   (npm run --silent hash-secret -- <secret>)\n');
    return EXIT.usage;
  }
  try {
    io.stdout.write(`${hashSecret(secret)}\n`);
    return EXIT.ok;
  } catch (err) {
    io.stderr.write(`${(err as Error).message}\n`);
    return EXIT.usage;
  }
}
