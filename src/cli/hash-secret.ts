import type { Command } from 'commander';
import { hashSecret } from '../clients/secret.js';
import { usageError, type CliIo } from './io.js';

/** `hash-secret <secret>`: the registry's `secretHash` for a client secret. */
export function register(program: Command, io: CliIo): void {
  program.command('hash-secret').description("the registry's secretHash for a client secret")
    .argument('<secret>', 'the client secret (at least 32 characters)')
    .action((secret: string) => {
      let hash: string;
      try {
        hash = hashSecret(secret);
      } catch (err) {
        throw usageError((err as Error).message);
      }
      io.stdout.write(`${hash}\n`);
    });
}
