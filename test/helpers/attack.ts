import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from '@jest/globals';
import { exportJWK, exportSPKI, generateKeyPair, importJWK, SignJWT, type CryptoKey, type JWK } from 'jose';
import request from 'supertest';
import { expectInactiveBody } from './liveness.js';
import { snapshot, type TestSts } from './sts.js';

/**
 * Shared pieces of the attack suite (test/security/): the "inactive and nothing changed" assertion
 * for introspection, forged-JWT builders, and a loopback server that counts the requests an
 * attacker-controlled URL would receive. The refusal assertion and the Redis snapshot every test
 * shares live in responses.ts and sts.ts.
 */

export type Res = request.Response;

export const INVALID_CLIENT_BODY = '{"error":"invalid_client","error_description":"client authentication failed"}';

export const b64url = (v: unknown): string =>
  Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

/**
 * Status, body text and every header except Date and X-Request-Id (fresh per request, unless the
 * caller chose it): what a caller can observe of a response.
 */
export function observable(res: Res): { status: number; text: string; headers: Record<string, unknown> } {
  const headers = Object.fromEntries(Object.entries(res.headers as Record<string, unknown>).filter(([k]) => k !== 'date' && k !== 'x-request-id'));
  return { status: res.status, text: res.text, headers };
}

/**
 * Introspection of an attack token: exactly {"active":false}, nothing written, no event — except,
 * for a killed token of ours (`killedSid`), exactly one token.used_after_revocation naming it.
 */
export async function expectInactiveUnchanged(sts: TestSts, send: () => PromiseLike<Res>, killedSid?: string): Promise<Res> {
  const before = await snapshot(sts);
  const n = sts.events.events.length;
  const res = await send();
  expectInactiveBody(res);
  expect(sts.events.events.slice(n)).toEqual(killedSid ? [expect.objectContaining({ type: 'token.used_after_revocation', sid: killedSid })] : []);
  expect(await snapshot(sts)).toEqual(before);
  return res;
}

/** An attacker's signing key, with its public JWK (and the JWKS an attacker URL would serve). */
export type PublicJwk = JWK & { kty: string };

export interface AttackerKey {
  privateKey: CryptoKey;
  publicJwk: PublicJwk;
  jwks: { keys: PublicJwk[] };
}

export async function attackerKey(kid = 'attacker-key'): Promise<AttackerKey> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const publicJwk: PublicJwk = { ...(await exportJWK(publicKey)), kty: 'EC', kid, alg: 'ES256', use: 'sig' };
  return { privateKey, publicJwk, jwks: { keys: [publicJwk] } };
}

/** A JWT with any header at all, signed with `key` under the header's alg (ES256 or HS256). */
export async function signWithHeader(header: Record<string, unknown>, payload: Record<string, unknown>, key: CryptoKey | Uint8Array): Promise<string> {
  return new SignJWT(payload).setProtectedHeader(header as { alg: string }).sign(key);
}

/** alg "none" in any spelling: header.payload. with an empty signature. */
export function unsigned(alg: string, payload: Record<string, unknown>, extraHeader: Record<string, unknown> = {}): string {
  return `${b64url({ alg, ...extraHeader })}.${b64url(payload)}.`;
}

/**
 * The byte strings a confused verifier might use as an HMAC secret for a public key: the JWK as
 * JSON, the PEM (SPKI) text, and the DER bytes.
 */
export async function publicKeyAsSecrets(jwk: JWK): Promise<[string, Uint8Array][]> {
  const key = (await importJWK({ ...jwk, ext: true }, (jwk.alg as string | undefined) ?? 'ES256')) as CryptoKey;
  const pem = await exportSPKI(key);
  const der = Buffer.from(pem.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
  const enc = new TextEncoder();
  return [
    ['the public JWK (JSON)', enc.encode(JSON.stringify(jwk))],
    ['the public key PEM', enc.encode(pem)],
    ['the public key DER', new Uint8Array(der)],
  ];
}

/** HS256 over `payload`, keyed with `secret`, with whatever extra header the attack needs. */
export function hs256(payload: Record<string, unknown>, secret: Uint8Array, extraHeader: Record<string, unknown> = {}): Promise<string> {
  return signWithHeader({ alg: 'HS256', ...extraHeader }, payload, secret);
}

/** A loopback HTTP server that answers every request with `body` and counts what it receives. */
export interface CountingServer {
  url: string;
  requests(): number;
  close(): Promise<void>;
}

export async function countingServer(body: unknown): Promise<CountingServer> {
  let count = 0;
  const server: Server = createServer((req, res) => {
    count += 1;
    req.resume();
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests: () => count,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The first key the server publishes at GET /jwks (the one that signs). */
export async function serverJwk(sts: TestSts): Promise<JWK> {
  const res = await request(sts.app).get('/jwks');
  expect(res.status).toBe(200);
  return (JSON.parse(res.text) as { keys: JWK[] }).keys[0]!;
}
