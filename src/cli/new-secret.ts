import type { Command } from 'commander';
import { newSecret } from '../clients/secret.js';
import type { CliIo } from './io.js';

/** `new-secret`: a fresh client secret (32 random bytes, base64url). */
export function register(program: Command, io: CliIo): void {
  program.command('new-secret').description('a fresh client secret (32 random bytes, base64url)')
    .action(() => {
      io.stdout.write(`${newSecret()}\n`);
    });
}
