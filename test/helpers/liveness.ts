import { expect } from '@jest/globals';
import { sidOf } from './responses.js';
import { introspect, type TestSts } from './sts.js';

/** Introspects `token` as the API: 200 and active, for its own session. */
export async function expectActive(sts: TestSts, token: string): Promise<void> {
  const res = await introspect(sts, token);
  expect(res.status).toBe(200);
  expect(res.body).toMatchObject({ active: true, sid: sidOf(token) });
}

/** Introspects `token` as the API: 200 and exactly {"active": false}. */
export async function expectInactive(sts: TestSts, token: string): Promise<void> {
  const res = await introspect(sts, token);
  expect(res.status).toBe(200);
  expect(res.body).toEqual({ active: false });
}
