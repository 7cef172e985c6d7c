import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { API, claims, clientCredentials, introspect, redisState, startSts, type TestSts } from '../helpers/sts.js';

describe('smoke: a token from client credentials introspects active against real Redis', () => {
  let sts: TestSts;
  beforeAll(async () => {
    sts = await startSts();
  });
  afterAll(async () => {
    await sts.close();
  });

  it('issues, stores the session, introspects', async () => {
    const t = await clientCredentials(sts, 'billing-agent', API, 'invoices:read');
    const sid = claims(t.access_token).sid as string;
    expect(await redisState(sts)).toContain(sts.keys!.session(sid));
    const res = await introspect(sts, t.access_token);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ active: true, sid, client_id: 'billing-agent', scope: 'invoices:read' });
  });
});
