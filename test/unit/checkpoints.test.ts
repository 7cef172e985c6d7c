import { describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import { Checkpoints, verifyCheckpoint } from '../../src/audit/checkpoint.js';
import { generateKey, keyStoreFrom } from '../../src/keys/keystore.js';
import { MemoryAuditLog } from '../../src/store/memory/audit-log.js';
import { entry } from '../contract/audit-log.contract.js';
import { eventually, sleep } from '../helpers/wait.js';

const ISSUER = 'http://sts.test';

describe('checkpoints', () => {
  it('are signed periodically while the trail grows (and not while it does not), and verify with the published keys', async () => {
    const trail = new MemoryAuditLog();
    const keys = keyStoreFrom([await generateKey()]);
    const checkpoints = new Checkpoints(trail, keys, ISSUER, () => Date.now());
    checkpoints.start(20, pino({ level: 'silent' }));
    try {
      const head = await trail.append(entry(1));
      const first = await eventually(() => trail.checkpoint(), (c) => c !== undefined, { everyMs: 10 });
      expect(await verifyCheckpoint(first!, keys.jwks(), ISSUER)).toMatchObject({ iss: ISSUER, seq: 1, hash: head.hash });
      await sleep(100);
      expect(await trail.checkpoint()).toBe(first);
    } finally {
      checkpoints.stop();
    }
  });

  it('a checkpoint signed by another key, or of another issuer, does not verify', async () => {
    const trail = new MemoryAuditLog();
    const ours = keyStoreFrom([await generateKey()]);
    const theirs = keyStoreFrom([await generateKey()]);
    const jws = await new Checkpoints(trail, theirs, ISSUER, () => Date.now()).sign();
    await expect(verifyCheckpoint(jws, ours.jwks(), ISSUER)).rejects.toThrow(/does not verify/);
    const other = await new Checkpoints(trail, ours, 'http://other.test', () => Date.now()).sign();
    await expect(verifyCheckpoint(other, ours.jwks(), ISSUER)).rejects.toThrow(/not one of this trail/);
  });
});
