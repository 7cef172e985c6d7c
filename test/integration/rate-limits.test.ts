import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { API, basic, introspect, redisState, startSts, type TestSts } from '../helpers/sts.js';

const ccBody = { grant_type: 'client_credentials', resource: API, scope: 'invoices:read' };
const token = (sts: TestSts, agent = 'billing-agent', headers: Record<string, string> = {}) =>
  request(sts.app).post('/token').set('Authorization', basic(agent)).set(headers).type('form').send(ccBody);

describe('rate limits backed by Redis', () => {
  describe('per client', () => {
    let sts: TestSts;
    // Fresh counters for each test (each app has its own key prefix): no test spends another's budget.
    beforeEach(async () => {
      sts = await startSts({ rateLimit: { perAgent: 3, perResourceServer: 3 } });
    });
    afterEach(async () => {
      await sts.close();
    });

    it('a client over its budget gets 429 slow_down with Retry-After, and nothing is issued', async () => {
      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push((await token(sts)).status);
      expect(statuses).toEqual([200, 200, 200]);
      const before = await redisState(sts);
      const res = await token(sts);
      expect(res.status).toBe(429);
      expect(res.body).toEqual({ error: 'slow_down', error_description: 'too many requests for this client' });
      expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(Number(res.headers['retry-after'])).toBeLessThanOrEqual(60);
      expect(res.body.access_token).toBeUndefined();
      expect((await redisState(sts)).filter((k) => !before.includes(k))).toEqual([]);
      // The counter lives in Redis, under this deployment's prefix.
      expect(before.some((k) => k.startsWith(`${sts.prefix}rl:client:billing-agent`))).toBe(true);
    });

    it('another client is not affected by one over its budget', async () => {
      const codes = [];
      for (let i = 0; i < 4; i++) codes.push((await token(sts)).status);
      expect(codes).toEqual([200, 200, 200, 429]);
      expect((await token(sts, 'sub-agent')).status).toBe(200);
    });

    it('a caller cannot spend someone else\'s budget: failed authentications as a client never count against it', async () => {
      // More failures than the budget holds, each with a wrong secret for billing-agent.
      for (let i = 0; i < 5; i++) {
        const wrong = await request(sts.app).post('/token').set('Authorization', basic('billing-agent', 'x'.repeat(40))).type('form').send(ccBody);
        expect([wrong.status, wrong.body.error]).toEqual([401, 'invalid_client']);
      }
      expect((await redisState(sts)).filter((k) => k.startsWith(`${sts.prefix}rl:client:`))).toEqual([]);
      // billing-agent still has its whole budget, and it is still enforced.
      const codes = [];
      for (let i = 0; i < 4; i++) codes.push((await token(sts)).status);
      expect(codes).toEqual([200, 200, 200, 429]);
    });

    it('introspection is limited per resource server too', async () => {
      const codes = [];
      for (let i = 0; i < 5; i++) codes.push((await introspect(sts, 'garbage')).status);
      expect(codes).toEqual([200, 200, 200, 429, 429]);
    });
  });

  describe('defaults: agents limited, resource servers not', () => {
    let sts: TestSts;
    beforeAll(async () => {
      sts = await startSts({ rateLimit: { perAgent: 2 } });
    });
    afterAll(async () => {
      await sts.close();
    });

    it('an agent over its budget gets 429, while introspection (on every API call) stays unlimited', async () => {
      const codes = [];
      for (let i = 0; i < 3; i++) codes.push((await token(sts)).status);
      expect(codes).toEqual([200, 200, 429]);
      const intro = [];
      for (let i = 0; i < 5; i++) intro.push((await introspect(sts, 'garbage')).status);
      expect(intro).toEqual([200, 200, 200, 200, 200]);
    });
  });

  describe('per address', () => {
    let sts: TestSts;
    let proxied: TestSts;
    // Fresh counters for each test (each app has its own key prefix): no test spends another's budget.
    beforeEach(async () => {
      sts = await startSts({ rateLimit: { perIp: 2 } });
      proxied = await startSts({ rateLimit: { perIp: 2 }, trustProxy: 'loopback' });
    });
    afterEach(async () => {
      await sts.close();
      await proxied.close();
    });

    it('counts every request from one address, authenticated or not', async () => {
      const codes = [];
      for (const agent of ['billing-agent', 'sub-agent', 'leaf-agent']) codes.push((await token(sts, agent)).status);
      expect(codes).toEqual([200, 200, 429]);
    });

    it('ignores X-Forwarded-For unless behind a configured trusted proxy', async () => {
      const spoofed = [];
      for (const ip of ['203.0.113.7', '203.0.113.8', '203.0.113.9']) spoofed.push((await token(sts, 'leaf-agent', { 'X-Forwarded-For': ip })).status);
      expect(spoofed).toEqual([200, 200, 429]);
      const codes = [];
      for (const ip of ['203.0.113.1', '203.0.113.1', '203.0.113.1', '203.0.113.2']) {
        codes.push((await token(proxied, 'billing-agent', { 'X-Forwarded-For': ip })).status);
      }
      expect(codes).toEqual([200, 200, 429, 200]);
    });
  });
});
