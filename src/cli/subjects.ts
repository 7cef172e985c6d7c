import type { Command } from 'commander';
import { segment } from './admin-client.js';
import { adminAction } from './command-kit.js';
import type { CliIo } from './io.js';
import { printable } from './table.js';

/** `subjects kill SUB`: every session on behalf of one user, e.g. when the account is compromised. */
export function register(program: Command, io: CliIo): void {
  const subjects = program.command('subjects').description('users on whose behalf agents hold sessions');
  subjects.command('kill').description('kill every session on behalf of this subject, with their subtrees')
    .argument('<sub>', 'the subject (user) id')
    .action(adminAction(io, ['sessions:kill'], async (run, sub: string) => {
      const body = await run.client.send<{ revoked: number }>('POST', `/admin/subjects/${segment(sub)}/revoke-sessions`);
      if (run.json) return run.printJson(body);
      run.print(`revoked ${body.revoked} session${body.revoked === 1 ? '' : 's'} of ${printable(sub)}\n`);
    }));
}
