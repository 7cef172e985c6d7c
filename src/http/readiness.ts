import type { SessionStore } from '../store/index.js';

/**
 * How long a readiness check (and the scrape-time `agent_sts_redis_up`) waits for the store's
 * ping: below a Kubernetes probe's default 1 s timeout, so the probe gets our 503, not its own.
 */
export const READINESS_PING_TIMEOUT_MS = 500;

/** The value, or undefined when it failed or took longer than `ms`: never a throw, never a wait past `ms`. */
export async function within<T>(op: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([op.catch(() => undefined), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Whether the store answered a ping within `timeoutMs`. */
export async function pingWithin(store: Pick<SessionStore, 'ping'>, timeoutMs: number): Promise<boolean> {
  return (await within(store.ping().then(() => true), timeoutMs)) ?? false;
}

export type Readiness = { status: 'ready' } | { status: 'not_ready'; reason: 'store_unavailable' | 'registry_not_loaded' };

/** GET /readyz: ready once the registry is loaded and while the store answers in time. */
export async function readiness(store: Pick<SessionStore, 'ping'>, registryLoaded: () => boolean): Promise<Readiness> {
  if (!registryLoaded()) return { status: 'not_ready', reason: 'registry_not_loaded' };
  if (!(await pingWithin(store, READINESS_PING_TIMEOUT_MS))) return { status: 'not_ready', reason: 'store_unavailable' };
  return { status: 'ready' };
}
