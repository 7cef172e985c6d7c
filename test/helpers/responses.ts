import { expect } from '@jest/globals';
import type request from 'supertest';
import { claims, snapshot, type TestSts } from './sts.js';

type Res = request.Response;

/** An event's `time`: ISO 8601 from the service clock. */
export const ANY_ISO_TIME = expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

/**
 * An OAuth error response: exact status and code, JSON, no-store, only `error` and
 * `error_description`, no token or `active` in it, and no stack trace.
 */
export function expectOAuthError(res: Res, status: number, error: string): void {
  expect({ status: res.status, error: res.body?.error }).toEqual({ status, error });
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  expect(res.headers['cache-control']).toBe('no-store');
  for (const k of Object.keys(res.body)) expect(['error', 'error_description']).toContain(k);
  expect(res.body.access_token).toBeUndefined();
  expect(res.body.active).toBeUndefined();
  expect(res.text).not.toMatch(/eyJ[A-Za-z0-9_-]+\./);
  expect(res.text).not.toMatch(/\n\s+at |node_modules|\.ts:\d+|Error:/);
}

/** The access token of a response that must have succeeded (200), else a readable failure. */
export async function ok(res: PromiseLike<Res>): Promise<string> {
  const r = await res;
  if (r.status !== 200) throw new Error(`exchange failed: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.access_token as string;
}

export const sidOf = (token: string) => claims(token).sid as string;

/** The sessions a kill event lists, as sorted `sid aud` lines, to compare with what a test killed. */
export function killedIn(events: readonly unknown[]): string[] {
  return events
    .flatMap((e) => ((e as { sessions?: { sid: string; aud: string }[] }).sessions ?? []).map((s) => `${s.sid} ${s.aud}`))
    .sort();
}
export const killedLines = (tokens: string[], aud: string) => tokens.map((t) => `${sidOf(t)} ${aud}`).sort();

export interface RefusalOptions {
  /**
   * Which events the refusal may emit: one token.denied (the /token endpoint ran; the default),
   * none, or (a killed token presented again) token.used_after_revocation then token.denied.
   */
  events?: 'denied' | 'none' | 'used-after-revocation';
  /** The exact body text, when the test knows it. */
  body?: string;
  /** What error_description must match. */
  description?: RegExp;
  /** What WWW-Authenticate must match (and name the error in); null: no challenge at all. Unset: not looked at. */
  challenge?: RegExp | null;
  /** Entries the refusal leaves, as `snapshot` shows them (a valid DPoP proof's single-use id: a proof is used once). */
  leaves?: Record<string, unknown>;
}

/**
 * Sends a request that must be refused: exactly `status` and OAuth `error`, no token issued (body
 * and events), the expected denial event or none, and the store unchanged, TTLs included (but for
 * what `leaves` names).
 */
export async function expectRefused(sts: TestSts, send: () => PromiseLike<Res>, status: number, error: string, opts: RefusalOptions = {}): Promise<Res> {
  const before = { ...(await snapshot(sts)), ...opts.leaves };
  const n = sts.events.events.length;
  const res = await send();
  expectOAuthError(res, status, error);
  if (opts.body !== undefined) expect(res.text).toBe(opts.body);
  if (opts.description) expect(res.body.error_description).toMatch(opts.description);
  if (opts.challenge === null) expect(res.headers['www-authenticate']).toBeUndefined();
  else if (opts.challenge) {
    expect(res.headers['www-authenticate']).toMatch(opts.challenge);
    expect(res.headers['www-authenticate']).toContain(`error="${error}"`);
  }
  const fresh = sts.events.events.slice(n);
  expect(fresh.filter((e) => e.type === 'token.issued')).toEqual([]);
  const events = opts.events ?? 'denied';
  const reported = events === 'used-after-revocation' ? [expect.objectContaining({ type: 'token.used_after_revocation' })] : [];
  if (events === 'none') expect(fresh).toEqual([]);
  else expect(fresh).toEqual([...reported, expect.objectContaining({ type: 'token.denied', error })]);
  expect(await snapshot(sts)).toEqual(before);
  return res;
}
