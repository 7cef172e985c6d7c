import { Command, CommanderError, Option } from 'commander';
import { register as access } from './access.js';
import { register as agents } from './agents.js';
import { register as audit } from './audit.js';
import { refuseSecretFlag } from './command-kit.js';
import { register as hashSecret } from './hash-secret.js';
import { CliFailure, EXIT, type CliIo } from './io.js';
import { register as newSecret } from './new-secret.js';
import { register as probe } from './probe.js';
import { register as rotateKeys } from './rotate-keys.js';
import { register as sessions } from './sessions.js';
import { register as subjects } from './subjects.js';

export type { CliIo } from './io.js';

const ADMIN_HELP = `
The admin commands call the admin API as an admin agent: set AGENT_STS_URL and AGENT_STS_CLIENT_ID
(or --url, --client-id), and give the secret in AGENT_STS_CLIENT_SECRET, a file
(--client-secret-file) or standard input (--client-secret-stdin), never on the command line. The
URL must be https except to localhost, 127.0.0.0/8 or [::1] (--insecure allows plain http
elsewhere, for a lab). Admin tokens are DPoP-bound to a key made for the run. Exit codes: 0 done,
1 usage or a local failure, 2 the server refused (its OAuth error is printed) or could not be reached.`;

function program(io: CliIo): Command {
  const p = new Command('agent-sts')
    .description('agent-sts: secrets, signing keys and the admin API from the command line')
    .option('--url <url>', 'the service base URL (AGENT_STS_URL)')
    .option('--client-id <id>', 'the admin agent (AGENT_STS_CLIENT_ID)')
    .option('--client-secret-file <file>', "read the admin agent's secret from the file's first line")
    .option('--client-secret-stdin', "read the admin agent's secret from the first line of standard input")
    .addOption(new Option('--client-secret <secret>').hideHelp().argParser(refuseSecretFlag))
    .option('--insecure', 'allow plain http to a host that is not loopback (a lab only: the secret and tokens travel in clear)')
    .option('--json', 'JSON for scripts (same as -o json)')
    .addOption(new Option('-o, --output <format>', 'table for people, json for scripts').choices(['table', 'json']).default('table'))
    .addHelpText('after', ADMIN_HELP)
    .showHelpAfterError('(agent-sts help [command] for usage)')
    // Settings copied to every subcommand added after this point.
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) });
  for (const register of [hashSecret, newSecret, rotateKeys, sessions, subjects, agents, access, audit, probe]) register(p, io);
  return p;
}

/** The `agent-sts` command: runs one subcommand and returns the exit code; nothing throws past it. */
export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  try {
    await program(io).parseAsync([...argv], { from: 'user' });
    return EXIT.ok;
  } catch (err) {
    // commander has printed its own message (or the help) already
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    if (err instanceof CliFailure) {
      io.stderr.write(`error: ${err.message}\n`);
      return err.exitCode;
    }
    throw err;
  }
}
