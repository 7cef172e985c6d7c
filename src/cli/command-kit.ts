import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import type { AdminScope } from '../clients/types.js';
import { AdminClient, type AdminCredentials } from './admin-client.js';
import { usageError, type CliIo } from './io.js';

/** A JSON file given on the command line is read up to this size. */
const MAX_INPUT_BYTES = 1_048_576;

/** The program's own options, given before or after the subcommand. */
export interface GlobalOptions {
  url?: string;
  clientId?: string;
  clientSecret?: string;
  json?: boolean;
  output?: 'table' | 'json';
}

/** What an admin command works with: a client holding exactly its scopes, and how to print. */
export interface AdminRun {
  client: AdminClient;
  io: CliIo;
  /** --json or -o json: the server's JSON for scripts instead of tables for people. */
  json: boolean;
  /** One block of text for people, ending in a newline. */
  print(text: string): void;
  printJson(value: unknown): void;
}

const CREDENTIALS = [
  ['url', 'AGENT_STS_URL', '--url'],
  ['clientId', 'AGENT_STS_CLIENT_ID', '--client-id'],
  ['clientSecret', 'AGENT_STS_CLIENT_SECRET', '--client-secret'],
] as const;

function credentials(io: CliIo, opts: GlobalOptions): AdminCredentials {
  const found: Partial<AdminCredentials> = {};
  const missing: string[] = [];
  for (const [key, env, flag] of CREDENTIALS) {
    const v = opts[key] ?? io.env[env];
    if (v) found[key] = v;
    else missing.push(`${env} (or ${flag})`);
  }
  if (missing.length) throw usageError(`the admin API needs ${missing.join(', ')}`);
  let url: URL;
  try {
    url = new URL(found.url!);
  } catch {
    throw usageError(`AGENT_STS_URL is not a URL: ${found.url}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw usageError('AGENT_STS_URL must be an http or https URL');
  return found as AdminCredentials;
}

/**
 * An admin command's action for commander: the positional arguments and the command's options
 * reach `fn` as commander passes them, after an AdminRun built from the global options.
 */
export function adminAction(io: CliIo, scopes: AdminScope[], fn: (run: AdminRun, ...args: never[]) => Promise<void>) {
  return async (...args: unknown[]): Promise<void> => {
    const command = args.at(-1) as Command;
    const globals = command.optsWithGlobals<GlobalOptions>();
    const json = globals.json === true || globals.output === 'json';
    const run: AdminRun = {
      client: new AdminClient(credentials(io, globals), scopes, io.signal),
      io,
      json,
      print: (text) => io.stdout.write(text),
      printJson: (value) => io.stdout.write(`${JSON.stringify(value, null, 2)}\n`),
    };
    await fn(run, ...(args.slice(0, -1) as never[]));
  };
}

/** A positive whole number from the command line (limits, days). */
export function positiveInt(name: string) {
  return (raw: string): number => {
    if (!/^[1-9][0-9]{0,6}$/.test(raw)) throw usageError(`${name} must be a positive whole number, not '${raw}'`);
    return Number(raw);
  };
}

/** A whole number, zero allowed (a delegation depth). */
export function wholeNumber(name: string) {
  return (raw: string): number => {
    if (!/^(0|[1-9][0-9]{0,6})$/.test(raw)) throw usageError(`${name} must be a whole number, not '${raw}'`);
    return Number(raw);
  };
}

/** For a repeatable option: each use adds one value. */
export const repeated = (value: string, previous: string[] = []) => [...previous, value];

/** A JSON object from `file` (relative to the working directory) or, for `-`, from stdin. */
export async function readJsonObject(io: CliIo, file: string): Promise<Record<string, unknown>> {
  let text: string;
  if (file === '-') {
    if (!io.stdin) throw usageError('no standard input to read');
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of io.stdin) {
      const buf = Buffer.from(chunk);
      size += buf.length;
      if (size > MAX_INPUT_BYTES) throw usageError(`standard input is over ${MAX_INPUT_BYTES} bytes`);
      chunks.push(buf);
    }
    text = Buffer.concat(chunks).toString('utf8');
  } else {
    try {
      text = await readFile(path.resolve(io.cwd, file), 'utf8');
    } catch (err) {
      throw usageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    if (Buffer.byteLength(text) > MAX_INPUT_BYTES) throw usageError(`${file} is over ${MAX_INPUT_BYTES} bytes`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw usageError(`${file === '-' ? 'standard input' : file} is not JSON: ${(err as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw usageError(`${file === '-' ? 'standard input' : file} must hold a JSON object`);
  return value as Record<string, unknown>;
}
