import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import { generateKeyPair } from 'jose';
import * as oauth from 'oauth4webapi';
import { dpopVerifier, type DpopCheck } from 'agent-sts-gate/dpop';
import { freePort } from '../helpers/redis-server.js';
import { API, AT_TYPE, claims, EXCHANGE, SECRETS, startSts, type TestSts } from '../helpers/sts.js';

/**
 * The positive path of DPoP driven by a client written by others: oauth4webapi makes the proofs,
 * gets DPoP-bound tokens over real HTTP (client credentials, then a delegated exchange with the
 * sub-agent's own key), and the proof it makes for a resource request is what `dpopVerifier` accepts.
 */
describe('oauth4webapi DPoP against agent-sts on a loopback port', () => {
  const insecure = { [oauth.allowInsecureRequests]: true } as const;
  let sts: TestSts;
  let server: Server;
  let as: oauth.AuthorizationServer;
  let billingPair: oauth.CryptoKeyPair;
  let subPair: oauth.CryptoKeyPair;
  const billing: oauth.Client = { client_id: 'billing-agent' };
  const subAgent: oauth.Client = { client_id: 'sub-agent' };
  const rs: oauth.Client = { client_id: API };
  const auth = (id: string) => oauth.ClientSecretBasic(SECRETS[id]!);

  beforeAll(async () => {
    const port = await freePort();
    const issuer = new URL(`http://127.0.0.1:${port}`);
    sts = await startSts({ issuer: issuer.origin });
    server = createServer(sts.app);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }));
    [billingPair, subPair] = await Promise.all([generateKeyPair('ES256'), generateKeyPair('EdDSA')]);
  });
  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    await sts?.close();
  });

  const introspect = async (token: string) =>
    oauth.processIntrospectionResponse(as, rs, await oauth.introspectionRequest(as, rs, auth(API), token, insecure));

  /** What oauth4webapi sends to a resource server, captured instead of fetched. */
  async function resourceRequest(token: string, DPoP: oauth.DPoPHandle, url: string): Promise<Request> {
    let sent: Request | undefined;
    const capture = async (input: URL | string, init?: RequestInit) => {
      sent = new Request(input, init);
      return new Response('{}', { status: 200, headers: { 'content-type': 'application/json' } });
    };
    await oauth.protectedResourceRequest(token, 'GET', new URL(url), undefined, undefined, { DPoP, [oauth.customFetch]: capture });
    return sent!;
  }

  /** The resource server's part: scheme and proof from the request, cnf.jkt from introspection. */
  async function checkAtResourceServer(req: Request, jkt: string | undefined, verifier = dpopVerifier()) {
    const [scheme, token] = req.headers.get('authorization')!.split(' ');
    const c: DpopCheck = {
      scheme: scheme!.toLowerCase() as 'dpop', proof: req.headers.get('dpop') ?? undefined, method: req.method, url: req.url, accessToken: token!, jkt,
    };
    return verifier.check(c);
  }

  it('client credentials with a DPoP proof; the resource request proof is accepted once; Bearer and other tokens are refused', async () => {
    expect(as.dpop_signing_alg_values_supported).toEqual(expect.arrayContaining(['ES256', 'EdDSA']));
    const DPoP = oauth.DPoP(billing, billingPair);
    const t = await oauth.processClientCredentialsResponse(as, billing,
      await oauth.clientCredentialsGrantRequest(as, billing, auth('billing-agent'), { resource: API, scope: 'invoices:read' }, { DPoP, ...insecure }));
    expect(t.token_type).toBe('dpop');
    expect(claims(t.access_token).cnf).toEqual({ jkt: await DPoP.calculateThumbprint() });

    const intro = await introspect(t.access_token);
    expect(intro).toMatchObject({ active: true, token_type: 'DPoP', cnf: { jkt: await DPoP.calculateThumbprint() } });
    const jkt = (intro.cnf as { jkt: string }).jkt;

    const req = await resourceRequest(t.access_token, DPoP, `${API}/invoices?page=1`);
    expect(req.headers.get('authorization')).toBe(`DPoP ${t.access_token}`);
    const verifier = dpopVerifier();
    expect(await checkAtResourceServer(req, jkt, verifier)).toEqual({ ok: true });
    // The captured request, replayed by whoever saw it: refused.
    expect(await checkAtResourceServer(req, jkt, verifier)).toMatchObject({ ok: false, error: 'invalid_dpop_proof' });
    // The same token stolen and sent as Bearer: refused.
    const stolen = new Request(`${API}/invoices`, { headers: { authorization: `Bearer ${t.access_token}` } });
    expect(await checkAtResourceServer(stolen, jkt)).toMatchObject({ ok: false, error: 'invalid_token' });
    // A proof for another URL: refused.
    const elsewhere = await resourceRequest(t.access_token, DPoP, 'https://other.example.com/invoices');
    expect(await checkAtResourceServer(new Request(`${API}/invoices`, { headers: elsewhere.headers }), jkt)).toMatchObject({ ok: false, error: 'invalid_dpop_proof' });
  });

  it("token exchange: the sub-agent's token is bound to its own key, and only its proofs are accepted", async () => {
    const parentDpop = oauth.DPoP(billing, billingPair);
    const parent = await oauth.processClientCredentialsResponse(as, billing,
      await oauth.clientCredentialsGrantRequest(as, billing, auth('billing-agent'), { resource: API, scope: 'invoices:read' }, { DPoP: parentDpop, ...insecure }));

    const subDpop = oauth.DPoP(subAgent, subPair);
    const child = await oauth.processGenericTokenEndpointResponse(as, subAgent,
      await oauth.genericTokenEndpointRequest(as, subAgent, auth('sub-agent'), EXCHANGE, {
        subject_token: parent.access_token, subject_token_type: AT_TYPE, resource: API, scope: 'invoices:read',
      }, { DPoP: subDpop, ...insecure }));
    expect(child.token_type).toBe('dpop');
    const intro = await introspect(child.access_token);
    expect(intro).toMatchObject({ active: true, client_id: 'sub-agent', act: { sub: 'sub-agent' }, token_type: 'DPoP', cnf: { jkt: await subDpop.calculateThumbprint() } });
    const jkt = (intro.cnf as { jkt: string }).jkt;

    expect(await checkAtResourceServer(await resourceRequest(child.access_token, subDpop, `${API}/invoices`), jkt)).toEqual({ ok: true });
    // The parent's key cannot use the child's token.
    expect(await checkAtResourceServer(await resourceRequest(child.access_token, parentDpop, `${API}/invoices`), jkt)).toMatchObject({ ok: false, error: 'invalid_token' });
  });
});
