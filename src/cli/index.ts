import { run as hashSecret } from './hash-secret.js';
import { EXIT, type CliIo } from './io.js';
import { run as newSecret } from './new-secret.js';
import { run as rotateKeys } from './rotate-keys.js';

export type { CliIo } from './io.js';

const USAGE = `usage: agent-sts <command>

  hash-secret <secret>        the registry's secretHash for a client secret
  new-secret                  a fresh client secret
  keys rotate [ES256|EdDSA]   add a signing key to STS_KEYS_DIR (then SIGHUP the server)
`;

/** The `agent-sts` command: picks the subcommand and returns the exit code. */
export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'hash-secret':
      return hashSecret(rest, io);
    case 'new-secret':
      return newSecret(rest, io);
    case 'keys':
      if (rest[0] === 'rotate') return rotateKeys(rest.slice(1), io);
      break;
    case 'help':
    case '--help':
    case '-h':
      io.stdout.write(USAGE);
      return EXIT.ok;
  }
  io.stderr.write(USAGE);
  return EXIT.usage;
}
