import { describe, expect, it } from '@jest/globals';
import { verifyProof } from 'agent-sts-gate/dpop';
import { DPOP_SIGNING_ALGORITHMS, dpopSigner, generateDpopKeyPair, parseChallenges } from 'agent-sts-gate/protocol';
import { bearerError, dpopError, invalidClient } from '../../src/errors.js';
import { endpointsOf, serverMetadata } from '../../src/oauth/metadata.js';

/**
 * agent-sts's side of the kit's contract (the gate's side: packages/gate/test/client-kit.test.ts):
 * every challenge it sends parses with the kit's parser, and every DPoP algorithm it advertises is
 * the list the gate's proof check accepts.
 */
describe('agent-sts\'s challenges and DPoP metadata, read by the kit', () => {
  it('parses every challenge agent-sts sends', () => {
    const sent = [
      invalidClient(true).headers['WWW-Authenticate']!,
      bearerError(401).headers['WWW-Authenticate']!,
      bearerError(403, 'insufficient_scope', 'needs "admin"').headers['WWW-Authenticate']!,
      dpopError(401, 'invalid_dpop_proof', 'bad proof').headers['WWW-Authenticate']!,
    ];
    expect(parseChallenges(sent.join(', ')).map((c) => [c.scheme, c.params])).toEqual([
      ['Basic', { realm: 'agent-sts' }],
      ['Bearer', { realm: 'agent-sts' }],
      ['Bearer', { realm: 'agent-sts', error: 'insufficient_scope', error_description: "needs 'admin'" }],
      ['DPoP', { realm: 'agent-sts', error: 'invalid_dpop_proof', error_description: 'bad proof', algs: DPOP_SIGNING_ALGORITHMS.join(' ') }],
    ]);
  });

  it('the admin challenge and the metadata advertise exactly the algorithms the gate\'s DPoP check accepts', async () => {
    const advertisedByAdmin = parseChallenges(dpopError(401, 'invalid_token', 'x').headers['WWW-Authenticate']!)[0]!.params.algs!.split(' ');
    const advertisedByMetadata = serverMetadata(endpointsOf('https://sts.example.com'), { types: ['client_credentials'], profiles: [] }).dpop_signing_alg_values_supported;
    expect(advertisedByAdmin).toEqual([...DPOP_SIGNING_ALGORITHMS]);
    expect(advertisedByMetadata).toEqual(DPOP_SIGNING_ALGORITHMS);
    const url = 'https://sts.example.com/admin/sessions';
    const nowMs = Date.now();
    for (const alg of DPOP_SIGNING_ALGORITHMS) {
      // The signer reads the same fixed clock: generating the RSA keys can take seconds on a loaded machine.
      const signer = await dpopSigner({ key: await generateDpopKeyPair(alg), clock: { nowMs: () => nowMs } });
      await expect(verifyProof(await signer.proof('GET', url), { method: 'GET', url, nowMs }).then(() => alg)).resolves.toBe(alg);
    }
  });
});
