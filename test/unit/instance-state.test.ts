import { describe, expect, it } from '@jest/globals';
import { decodeProtectedHeader } from 'jose';
import { register as globalRegistry } from 'prom-client';
import { VerifiedSecrets, hashSecret } from '../../src/clients/secret.js';
import { StsMetrics } from '../../src/http/metrics.js';
import { generateKey, keyStoreFrom, signCompact } from '../../src/keys/keystore.js';
import { ID_BYTES, IdSource, RANDOM_POOL_BYTES } from '../../src/sessions/ids.js';

/** Two app instances in one process share no state by accident: every cache belongs to an object. */

describe('per-instance state', () => {
  it('two key stores sign with their own kid and alg, each from its own header cache', async () => {
    const a = keyStoreFrom([await generateKey('ES256')]);
    const b = keyStoreFrom([await generateKey('EdDSA')]);
    const header = { typ: 'at+jwt' };
    // Interleaved, so a cache shared between them would hand one store's header to the other.
    for (let i = 0; i < 3; i++) {
      for (const ks of [a, b]) {
        const h = decodeProtectedHeader(signCompact(ks.current(), header, { i }));
        expect(h).toEqual({ typ: 'at+jwt', alg: ks.current().alg, kid: ks.current().kid });
      }
    }
    expect(a.current().encodedHeader(header)).not.toBe(b.current().encodedHeader(header));
    expect(a.current().encodedHeader(header)).toBe(a.current().encodedHeader({ typ: 'at+jwt' }));
  });

  it('two id sources draw from their own pools: neither hands out, or skips, the other one’s bytes', () => {
    const draws = { a: 0, b: 0 };
    const pool = (name: 'a' | 'b', fill: number) => (n: number) => {
      draws[name]++;
      return Buffer.alloc(n, fill + draws[name]);
    };
    const a = new IdSource(pool('a', 0x10));
    const b = new IdSource(pool('b', 0x80));
    const perPool = Math.floor(RANDOM_POOL_BYTES / ID_BYTES);
    const idOf = (byte: number) => Buffer.alloc(ID_BYTES, byte).toString('base64url');
    // Alternating, past a refill on each: a shared pool would interleave their bytes and refills.
    for (let i = 0; i < perPool + 2; i++) {
      expect(a.next()).toBe(idOf(i < perPool ? 0x11 : 0x12));
      expect(b.next()).toBe(idOf(i < perPool ? 0x81 : 0x82));
    }
    expect(draws).toEqual({ a: 2, b: 2 });
    expect(new IdSource().next()).toMatch(/^[A-Za-z0-9_-]{16}$/);
  });

  it('two VerifiedSecrets remember matches apart, and each has its own unknown-client hash', () => {
    const secret = 'a-machine-made-secret-0123456789abcdef';
    const stored = hashSecret(secret);
    const a = new VerifiedSecrets();
    const b = new VerifiedSecrets();
    expect(a.verify('agent', secret, stored)).toBe(true);
    expect(b.verify('agent', `${secret}x`, stored)).toBe(false);
    expect(a.unknownClientHash).not.toBe(b.unknownClientHash);
  });

  it('two StsMetrics count into their own registries, never into prom-client\'s global one', async () => {
    const store = { countLive: async () => 7 };
    const a = new StsMetrics(store, Date.now);
    const b = new StsMetrics(store, Date.now);
    a.introspected(true);
    a.introspected(true);
    b.introspected(false);
    const count = async (m: StsMetrics, result: string) =>
      (await m.registry.getSingleMetric('agent_sts_introspections_total')!.get()).values.find((v) => v.labels.result === result)?.value;
    expect([await count(a, 'active'), await count(a, 'inactive')]).toEqual([2, 0]);
    expect([await count(b, 'active'), await count(b, 'inactive')]).toEqual([0, 1]);
    expect(a.registry).not.toBe(b.registry);
    expect(await globalRegistry.getMetricsAsJSON()).toEqual([]);
  });
});
