import type { Command } from 'commander';
import { hashSecret } from '../clients/secret.js';
import { readStdin, secretText } from './command-kit.js';
import { CliFailure, EXIT, usageError, type CliIo } from './io.js';

/** A secret is a few dozen characters; a line longer than this is not one. */
const MAX_SECRET_BYTES = 4_096;
const CTRL_C = '\u0003';
const CTRL_D = '\u0004';
const BACKSPACES = new Set(['\u007f', '\b']);

type TtyInput = AsyncIterable<string | Buffer> & { isTTY?: boolean; setRawMode?(raw: boolean): unknown };

/** A line typed at the terminal without echoing it (raw mode: every key arrives as typed, Enter ends it). */
async function promptHidden(io: CliIo, stdin: TtyInput, question: string): Promise<string> {
  io.stderr.write(question);
  stdin.setRawMode!(true);
  let line = '';
  try {
    for await (const chunk of stdin) {
      for (const ch of String(chunk)) {
        if (ch === CTRL_C) throw new CliFailure(EXIT.usage, 'interrupted');
        if (ch === '\r' || ch === '\n' || ch === CTRL_D) return line;
        if (BACKSPACES.has(ch)) line = line.slice(0, -1);
        else line += ch;
        if (line.length > MAX_SECRET_BYTES) throw usageError(`the secret is over ${MAX_SECRET_BYTES} characters`);
      }
    }
    return line;
  } finally {
    stdin.setRawMode!(false);
    io.stderr.write('\n');
  }
}

/** The secret from a prompt (a terminal) or the first line of standard input (a pipe, a file). */
async function secretFromInput(io: CliIo): Promise<string> {
  const stdin = io.stdin as TtyInput | undefined;
  if (stdin?.isTTY && stdin.setRawMode) return promptHidden(io, stdin, 'client secret (not shown): ');
  return secretText(await readStdin(io, MAX_SECRET_BYTES, 'standard input', true), 'standard input', 'secret');
}

/**
 * `hash-secret [-]`: the registry's `secretHash` for a client secret, read from a prompt or standard
 * input. A secret given as the argument still works (scripts and older docs use it) with a warning:
 * a command line is visible in ps and kept in shell history.
 */
export function register(program: Command, io: CliIo): void {
  program.command('hash-secret').description("the registry's secretHash for a client secret, read from a prompt or standard input")
    .argument('[secret]', "'-' or nothing: read it from standard input (or a prompt at a terminal); a secret here works but shows in ps and history")
    .action(async (given: string | undefined) => {
      if (given !== undefined && given !== '-') {
        io.stderr.write("warning: a secret on the command line shows in ps and stays in shell history; next time pipe it in: 'agent-sts hash-secret -'\n");
      }
      const secret = given === undefined || given === '-' ? await secretFromInput(io) : given;
      let hash: string;
      try {
        hash = hashSecret(secret);
      } catch (err) {
        throw usageError((err as Error).message);
      }
      io.stdout.write(`${hash}\n`);
    });
}
