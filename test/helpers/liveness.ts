import { expect } from '@jest/globals';
import { sidOf } from './responses.js';
import type request from 'supertest';
import { API, introspect, type TestSts } from './sts.js';

/** An inactive token's whole introspection answer. */
export const INACTIVE = '{"active":false}';

/** Introspects `token` as the API: 200 and active, for its own session. */
export async function expectActive(sts: TestSts, token: string): Promise<void> {
  const res = await introspect(sts, token);
  expect(res.status).toBe(200);
  expect(res.body).toMatchObject({ active: true, sid: sidOf(token) });
}

/** An introspection answer for an inactive token: 200, exactly {"active":false} as JSON, not cached. */
export function expectInactiveBody(res: request.Response): void {
  expect(res.status).toBe(200);
  expect(res.text).toBe(INACTIVE);
  expect(res.body).toStrictEqual({ active: false });
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  expect(res.headers['cache-control']).toBe('no-store');
}

/** Introspects `token` as `rs` (default: the API): exactly {"active":false} (see expectInactiveBody). */
export async function expectInactive(sts: TestSts, token: string, rs = API): Promise<void> {
  expectInactiveBody(await introspect(sts, token, rs));
}
