import { StoreUnavailableError } from '../../errors.js';

/** A call of a store beside the sessions (trail, SSF, usage, probes): any failure of Redis is a 503. */
export async function unavailableOnError<T>(op: Promise<T>): Promise<T> {
  try {
    return await op;
  } catch (err) {
    throw new StoreUnavailableError(err);
  }
}
