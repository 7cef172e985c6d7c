import type { Command } from 'commander';
import { AdminClient } from './admin-client.js';
import { credentials, type GlobalOptions } from './command-kit.js';
import { CliFailure, EXIT, type CliIo } from './io.js';
import { deleteLogin, loadLogin, saveLogin } from './login-store.js';
import { printable } from './table.js';

/** The call that ends the caller's own admin session (any admin token may make it). */
const OWN_SESSION = '/admin/session';

/** Ends the stored login's session at the server; a session already gone counts as ended. */
async function endSession(client: AdminClient): Promise<'ended' | 'gone'> {
  try {
    await client.send('DELETE', OWN_SESSION);
    return 'ended';
  } catch (err) {
    // The client says "log in again" (exit 1) for an expired or refused stored token: nothing left to end.
    if (err instanceof CliFailure && err.exitCode === EXIT.usage) return 'gone';
    throw err;
  }
}

/**
 * `login`: one admin token for everything the admin is entitled to, kept (0600) for the commands
 * that follow; `logout`: that session killed at the server, then the file deleted.
 */
export function register(program: Command, io: CliIo): void {
  program.command('login').description('get one admin token and keep it for the commands that follow, until it expires or you log out')
    .action(async (_opts: unknown, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const creds = await credentials(io, globals);
      const client = new AdminClient(creds, undefined, io.signal, Date.now, { keepKey: true });
      const session = await client.session();
      const previous = await loadLogin(io).catch(() => undefined);
      const kept = { url: creds.url, clientId: creds.clientId, ...session };
      // A session nothing keeps would live on unseen until it expires: one that cannot be saved is ended.
      const file = await saveLogin(io, kept).catch(async (err: unknown) => {
        await endSession(new AdminClient(kept, undefined, io.signal)).catch(() => undefined);
        throw err;
      });
      // The login replaced ends at once rather than lingering in the session list until it expires.
      if (previous) await endSession(new AdminClient(previous, undefined, io.signal)).catch(() => undefined);
      io.stdout.write(`logged in to ${printable(creds.url)} as ${printable(creds.clientId)} until ${new Date(session.expiresAtMs).toISOString()}\n`
        + `scopes: ${session.scope.map(printable).join(' ')}\nthe token is kept in ${file} (mode 0600); 'agent-sts logout' ends it\n`);
    });

  program.command('logout').description('end the kept admin session at the server and delete its file')
    .action(async () => {
      const login = await loadLogin(io);
      if (!login) {
        io.stdout.write('not logged in\n');
        return;
      }
      let outcome: 'ended' | 'gone';
      try {
        outcome = await endSession(new AdminClient(login, undefined, io.signal));
      } catch (err) {
        if (err instanceof CliFailure) throw new CliFailure(err.exitCode, `${err.message}; the login is kept, so logout can be run again`);
        throw err;
      }
      await deleteLogin(io);
      io.stdout.write(outcome === 'ended' ? `logged out: the session of ${printable(login.clientId)} is ended\n` : 'logged out: the session had already ended\n');
    });
}
