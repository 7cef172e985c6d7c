import { chmod, lstat, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { calculateJwkThumbprint, exportJWK, importJWK, type CryptoKey, type JWK } from 'jose';
import type { DpopKeyPair } from 'agent-sts-gate/protocol';
import { usageError, type CliIo } from './io.js';

/**
 * The login `agent-sts login` keeps: one admin token (and, for a DPoP-bound one, its proof key)
 * in a file only the user can read, like `vault login`'s token helper or kcadm's config. Whoever
 * reads the file holds the session until it expires or `logout` kills it; the client secret is
 * never written.
 */

const FILE_NAME = 'login.json';
const FILE_MODE = 0o600;
const DIR_MODE = 0o700;
/** Group or other may read or write: the file is refused, as ssh refuses a private key others can read. */
const SHARED_BITS = 0o077;
const FORMAT_VERSION = 1;

/** A login as a command uses it. */
export interface StoredLogin {
  url: string;
  clientId: string;
  accessToken: string;
  /** The token was DPoP-bound (token_type DPoP): every call carries a proof by `key`. */
  dpop: boolean;
  key?: DpopKeyPair;
  scope: string[];
  expiresAtMs: number;
}

interface LoginFile {
  version: number;
  url: string;
  clientId: string;
  accessToken: string;
  tokenType: 'DPoP' | 'Bearer';
  scope: string;
  expiresAt: string;
  /** The proof key: its public JWK as proofs carry it, and its private half. */
  dpopKey?: { alg: string; jwk: JWK; privateJwk: JWK };
}

/** $AGENT_STS_CONFIG_DIR, else $XDG_CONFIG_HOME/agent-sts, else ~/.config/agent-sts. */
export function configDir(io: CliIo): string {
  if (io.env.AGENT_STS_CONFIG_DIR) return path.resolve(io.cwd, io.env.AGENT_STS_CONFIG_DIR);
  const xdg = io.env.XDG_CONFIG_HOME;
  // The XDG spec: a relative value is invalid and ignored.
  return path.join(xdg && path.isAbsolute(xdg) ? xdg : path.join(homedir(), '.config'), 'agent-sts');
}

export const loginFile = (io: CliIo) => path.join(configDir(io), FILE_NAME);

/** Written to a new file (mode 0600 from its creation) and renamed over the old: never half a login, never readable by others. */
export async function saveLogin(io: CliIo, login: StoredLogin): Promise<string> {
  const file = loginFile(io);
  await mkdir(path.dirname(file), { recursive: true, mode: DIR_MODE });
  const body: LoginFile = {
    version: FORMAT_VERSION, url: login.url, clientId: login.clientId, accessToken: login.accessToken,
    tokenType: login.dpop ? 'DPoP' : 'Bearer', scope: login.scope.join(' '), expiresAt: new Date(login.expiresAtMs).toISOString(),
    ...(login.key ? { dpopKey: { alg: login.key.alg, jwk: login.key.jwk, privateJwk: await exportJWK(login.key.privateKey) } } : {}),
  };
  const temp = `${file}.${process.pid}.tmp`;
  try {
    await writeFile(temp, `${JSON.stringify(body, null, 2)}\n`, { mode: FILE_MODE, flag: 'wx' });
    // umask cannot widen a mode, but a file system that ignores it would: set it outright.
    await chmod(temp, FILE_MODE);
    await rename(temp, file);
  } catch (err) {
    await rm(temp, { force: true });
    throw usageError(`cannot write ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return file;
}

/** The stored login, or undefined when there is none; a file others can read, or one not in this format, is refused. */
export async function loadLogin(io: CliIo): Promise<StoredLogin | undefined> {
  const file = loginFile(io);
  let text: string;
  try {
    const stat = await lstat(file);
    if (!stat.isFile()) throw usageError(`${file} is not a regular file`);
    if (stat.mode & SHARED_BITS) throw usageError(`${file} can be read by other users (mode ${(stat.mode & 0o777).toString(8)}): run 'agent-sts logout' and log in again`);
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    if (err instanceof Error && err.name === 'CliFailure') throw err;
    throw usageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    return await parseLogin(JSON.parse(text) as LoginFile);
  } catch {
    throw usageError(`${file} is not a login this version can read: delete it and run 'agent-sts login'`);
  }
}

async function parseLogin(f: LoginFile): Promise<StoredLogin> {
  const expiresAtMs = Date.parse(f.expiresAt);
  if (f.version !== FORMAT_VERSION || typeof f.url !== 'string' || typeof f.clientId !== 'string' || typeof f.accessToken !== 'string'
    || typeof f.scope !== 'string' || Number.isNaN(expiresAtMs) || (f.tokenType === 'DPoP') !== (f.dpopKey !== undefined)) {
    throw new Error('not a login file');
  }
  return {
    url: f.url, clientId: f.clientId, accessToken: f.accessToken, dpop: f.tokenType === 'DPoP', scope: f.scope.split(' ').filter(Boolean), expiresAtMs,
    ...(f.dpopKey ? { key: await keyPair(f.dpopKey.alg, f.dpopKey.jwk, f.dpopKey.privateJwk) } : {}),
  };
}

async function keyPair(alg: string, jwk: JWK, privateJwk: JWK): Promise<DpopKeyPair> {
  return {
    alg, jwk, jkt: await calculateJwkThumbprint(jwk),
    privateKey: (await importJWK(privateJwk, alg)) as CryptoKey,
    publicKey: (await importJWK(jwk, alg)) as CryptoKey,
  };
}

export async function deleteLogin(io: CliIo): Promise<void> {
  await rm(loginFile(io), { force: true });
}
