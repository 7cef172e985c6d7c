import { compactVerify, createLocalJWKSet, type JSONWebKeySet } from 'jose';
import type { Logger } from 'pino';
import { ISSUER_SIGNING_ALGORITHMS } from 'agent-sts-gate/protocol';
import { signCompact, type KeyStore } from '../keys/keystore.js';
import type { AuditHead, AuditLog } from '../store/audit.js';

/** The JWS `typ` of a checkpoint, so it can never be mistaken for an access token. */
export const CHECKPOINT_TYP = 'audit-checkpoint+jws';

/** What a checkpoint signs (cf. C2SP tlog-checkpoint: origin, size, root hash). */
export interface Checkpoint {
  iss: string;
  /** The head record's seq when signed (0: an empty trail). */
  seq: number;
  /** That record's hash. */
  hash: string;
  /** When it was signed, ISO 8601 (service clock). */
  time: string;
}

export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

/**
 * Signs checkpoints of the trail with the service's current signing key (verifiable with /jwks)
 * and keeps the latest beside the trail. Periodically (when the trail has grown) and after every
 * admin change.
 */
export class Checkpoints {
  #timer: NodeJS.Timeout | undefined;
  #lastSeq = -1;

  constructor(
    private readonly trail: AuditLog,
    private readonly keys: KeyStore,
    private readonly issuer: string,
    private readonly nowMs: () => number,
  ) {}

  async sign(head?: AuditHead): Promise<string> {
    const h = head ?? (await this.trail.head());
    const payload: Checkpoint = { iss: this.issuer, seq: h.seq, hash: h.hash, time: new Date(this.nowMs()).toISOString() };
    const jws = signCompact(this.keys.current(), { typ: CHECKPOINT_TYP }, payload);
    await this.trail.saveCheckpoint(jws);
    this.#lastSeq = h.seq;
    return jws;
  }

  /** The latest saved checkpoint; one is signed now if none was yet. */
  async latest(): Promise<string> {
    return (await this.trail.checkpoint()) ?? this.sign();
  }

  /** Signs every `intervalMs` while the trail grows; the timer never keeps the process alive. */
  start(intervalMs: number, log: Logger): void {
    this.stop();
    this.#timer = setInterval(() => {
      this.trail.head()
        .then((h) => (h.seq !== this.#lastSeq ? this.sign(h) : undefined))
        .catch((err: unknown) => log.warn({ err }, 'periodic audit checkpoint failed'));
    }, intervalMs).unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

/** Verifies a checkpoint JWS against a key set (this service's /jwks) and returns what it signs. */
export async function verifyCheckpoint(jws: string, jwks: JSONWebKeySet, issuer: string): Promise<Checkpoint> {
  let payload: unknown;
  try {
    const { payload: bytes, protectedHeader } = await compactVerify(jws, createLocalJWKSet(jwks), { algorithms: [...ISSUER_SIGNING_ALGORITHMS] });
    if (protectedHeader.typ !== CHECKPOINT_TYP) throw new CheckpointError('not an audit checkpoint');
    payload = JSON.parse(new TextDecoder().decode(bytes));
  } catch (err) {
    if (err instanceof CheckpointError) throw err;
    throw new CheckpointError('the checkpoint does not verify with this service\'s keys');
  }
  const c = payload as Partial<Checkpoint>;
  if (c.iss !== issuer || !Number.isSafeInteger(c.seq) || (c.seq as number) < 0 || typeof c.hash !== 'string' || typeof c.time !== 'string') {
    throw new CheckpointError('the checkpoint is not one of this trail');
  }
  return c as Checkpoint;
}
