import { readFile } from 'node:fs/promises';
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import path from 'node:path';
import type { Command } from 'commander';
import type { AdminScope } from '../clients/types.js';
import { AdminClient, type AdminAuth, type AdminCredentials } from './admin-client.js';
import { usageError, type CliIo } from './io.js';
import { loadLogin, loginFile } from './login-store.js';

/** A JSON file given on the command line is read up to this size. */
const MAX_INPUT_BYTES = 1_048_576;
/** A client secret read from a file or stdin: a few dozen characters; anything this long is not one. */
const MAX_SECRET_BYTES = 4_096;

/** The program's own options, given before or after the subcommand. */
export interface GlobalOptions {
  url?: string;
  clientId?: string;
  clientSecretFile?: string;
  clientSecretStdin?: boolean;
  insecure?: boolean;
  json?: boolean;
  output?: 'table' | 'json';
  /** A command's own `--file` (`-` reads stdin, which then cannot also hold the secret). */
  file?: string;
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

export const SECRET_SOURCES = 'AGENT_STS_CLIENT_SECRET, --client-secret-file FILE or --client-secret-stdin';

/** `--client-secret` is refused as it is parsed: a command line is visible to every user of the machine (ps, /proc). */
export function refuseSecretFlag(): never {
  throw usageError(`--client-secret is not accepted: a command line shows in ps. Give the secret in ${SECRET_SOURCES}`);
}

/** Plain http is allowed only where nothing leaves the machine: localhost, 127.0.0.0/8 (IPv4-mapped too), [::1]. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === 'localhost') return true;
  const loopback = new BlockList();
  loopback.addSubnet('127.0.0.0', 8, 'ipv4');
  loopback.addAddress('::1', 'ipv6');
  return (isIPv4(host) && loopback.check(host, 'ipv4')) || (isIPv6(host) && loopback.check(host, 'ipv6'));
}

/** The service URL: http(s), and https unless the host is loopback or `--insecure` says this is a lab. */
function serviceUrl(raw: string, insecure: boolean): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw usageError(`AGENT_STS_URL is not a URL: ${raw}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw usageError('AGENT_STS_URL must be an http or https URL');
  if (url.protocol === 'http:' && !insecure && !isLoopbackHost(url.hostname)) {
    throw usageError(`refusing plain http to ${url.host}: the client secret and admin tokens would cross the network in clear. `
      + 'Use https (plain http is allowed only to localhost, 127.0.0.0/8 and [::1]), or --insecure for a lab');
  }
  return raw;
}

/** The secret as a file or stdin holds it: its first line, without the line ending. */
export function secretText(text: string, from: string, what = 'client secret'): string {
  const secret = text.split(/\r?\n/, 1)[0]!;
  if (!secret) throw usageError(`${from} holds no ${what}`);
  return secret;
}

/** Standard input to its end, or (`firstLine`) to its first line ending: a secret typed at a terminal needs no Ctrl-D. */
export async function readStdin(io: CliIo, maxBytes: number, what: string, firstLine = false): Promise<string> {
  if (!io.stdin) throw usageError('no standard input to read');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of io.stdin) {
    const buf = Buffer.from(chunk);
    size += buf.length;
    if (size > maxBytes) throw usageError(`${what} is over ${maxBytes} bytes`);
    chunks.push(buf);
    if (firstLine && buf.includes(0x0a)) break;
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function readLocalFile(io: CliIo, file: string, maxBytes: number): Promise<string> {
  let text: string;
  try {
    text = await readFile(path.resolve(io.cwd, file), 'utf8');
  } catch (err) {
    throw usageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (Buffer.byteLength(text) > maxBytes) throw usageError(`${file} is over ${maxBytes} bytes`);
  return text;
}

/** A secret other than the admin's (a push endpoint's Authorization value): from stdin or a file's first line, or undefined when neither is given. */
export async function secretFromStdinOrFile(io: CliIo, from: { stdin?: boolean; file?: string }, what: string): Promise<string | undefined> {
  if (from.stdin && from.file !== undefined) throw usageError(`give the ${what} one way: from standard input or from a file`);
  if (from.file !== undefined) return secretText(await readLocalFile(io, from.file, MAX_SECRET_BYTES), from.file, what);
  if (from.stdin) return secretText(await readStdin(io, MAX_SECRET_BYTES, 'standard input', true), 'standard input', what);
  return undefined;
}

/** The client secret, from exactly one place: --client-secret-file, --client-secret-stdin, else AGENT_STS_CLIENT_SECRET. */
async function clientSecret(io: CliIo, opts: GlobalOptions): Promise<string | undefined> {
  if (opts.clientSecretFile !== undefined && opts.clientSecretStdin) throw usageError('give the client secret one way: --client-secret-file or --client-secret-stdin');
  if (opts.clientSecretFile !== undefined) return secretText(await readLocalFile(io, opts.clientSecretFile, MAX_SECRET_BYTES), opts.clientSecretFile);
  if (opts.clientSecretStdin) {
    if (opts.file === '-') throw usageError('standard input cannot hold both the client secret and --file -');
    return secretText(await readStdin(io, MAX_SECRET_BYTES, 'standard input', true), 'standard input');
  }
  return io.env.AGENT_STS_CLIENT_SECRET || undefined;
}

/** A secret was given in one of its places: the command authenticates with it rather than with a stored login. */
const secretGiven = (io: CliIo, opts: GlobalOptions) => opts.clientSecretFile !== undefined || opts.clientSecretStdin === true || !!io.env.AGENT_STS_CLIENT_SECRET;

/** The URL, the admin and its secret, from flags, files, stdin and the environment (see SECRET_SOURCES). */
export async function credentials(io: CliIo, opts: GlobalOptions, hint = ''): Promise<AdminCredentials> {
  const url = opts.url ?? io.env.AGENT_STS_URL;
  const clientId = opts.clientId ?? io.env.AGENT_STS_CLIENT_ID;
  const missing = [!url && 'AGENT_STS_URL (or --url)', !clientId && 'AGENT_STS_CLIENT_ID (or --client-id)'].filter(Boolean);
  const secret = missing.length ? undefined : await clientSecret(io, opts);
  if (!missing.length && !secret) missing.push(`the client secret (${SECRET_SOURCES})`);
  if (missing.length) throw usageError(`the admin API needs ${missing.join(', ')}${hint}`);
  return { url: serviceUrl(url!, opts.insecure === true), clientId: clientId!, clientSecret: secret! };
}

/**
 * Credentials given (a secret anywhere) win; else the login `agent-sts login` kept, if it is for
 * the URL and admin asked for (when they are asked for at all).
 */
async function adminAuth(io: CliIo, opts: GlobalOptions): Promise<AdminAuth> {
  const login = secretGiven(io, opts) ? undefined : await loadLogin(io);
  if (!login) return credentials(io, opts, ", or a login ('agent-sts login')");
  const url = opts.url ?? io.env.AGENT_STS_URL;
  const clientId = opts.clientId ?? io.env.AGENT_STS_CLIENT_ID;
  const sameUrl = url === undefined || url.replace(/\/+$/, '') === login.url.replace(/\/+$/, '');
  if (!sameUrl || (clientId !== undefined && clientId !== login.clientId)) {
    throw usageError(`the login in ${loginFile(io)} is for ${login.clientId} at ${login.url}, not ${clientId ?? login.clientId} at ${url ?? login.url}: `
      + `log in again, or give that admin's secret (${SECRET_SOURCES})`);
  }
  return login;
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
      client: new AdminClient(await adminAuth(io, globals), scopes, io.signal),
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
  const text = file === '-' ? await readStdin(io, MAX_INPUT_BYTES, 'standard input') : await readLocalFile(io, file, MAX_INPUT_BYTES);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw usageError(`${file === '-' ? 'standard input' : file} is not JSON: ${(err as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw usageError(`${file === '-' ? 'standard input' : file} must hold a JSON object`);
  return value as Record<string, unknown>;
}
