import type { Server } from 'node:http';
import request from 'supertest';
import { API, AT_TYPE, basic, EXCHANGE } from './sts.js';

type Res = request.Response;

/**
 * What the agent-wide races send (test/faults/agent-*-race): sub-agent's own root token, sub-agent
 * exchanging billing-agent's token B, leaf-agent exchanging sub-agent's SR, and billing-agent as a
 * bystander that no kill names.
 */
export type RaceKind = 'root' | 'held-child' | 'under-root' | 'bystander';
export const RACE_KINDS: readonly RaceKind[] = ['root', 'held-child', 'under-root', 'bystander'];

export function raceRequests(server: Server) {
  const cc = (agent: string) =>
    request(server).post('/token').set('Authorization', basic(agent)).type('form').send({ grant_type: 'client_credentials', resource: API, scope: 'invoices:read' });
  const exchangeAs = (agent: string, token: string) =>
    request(server).post('/token').set('Authorization', basic(agent)).type('form')
      .send({ grant_type: EXCHANGE, subject_token: token, subject_token_type: AT_TYPE, resource: API, scope: 'invoices:read' });
  const introspectAll = (tokens: string[]) =>
    Promise.all(tokens.map((token) => request(server).post('/introspect').set('Authorization', basic(API)).type('form').send({ token }).then((r) => r)));
  /** One request of `kind`, given billing-agent's token B and sub-agent's SR. */
  const send = (kind: RaceKind, B: string, SR: string): Promise<{ kind: RaceKind; res: Res }> =>
    (kind === 'root' ? cc('sub-agent') : kind === 'held-child' ? exchangeAs('sub-agent', B) : kind === 'under-root' ? exchangeAs('leaf-agent', SR) : cc('billing-agent'))
      .then((res) => ({ kind, res }));
  return { cc, exchangeAs, introspectAll, send };
}

/** `perKind` requests of every kind, interleaved. */
export const racePlan = (perKind: number): RaceKind[] => Array.from({ length: perKind * RACE_KINDS.length }, (_, i) => RACE_KINDS[i % RACE_KINDS.length]!);

/**
 * Sends `plan` through `concurrency` lanes and starts `trigger` (the kill or the disable) once
 * `fireAfter` answers have come back, while the rest are still in flight. `triggered` is the
 * trigger's answer; `done` every request's, once all have answered.
 */
export function race<K, R, T>(plan: readonly K[], send: (kind: K) => Promise<R>, o: { concurrency: number; fireAfter: number; trigger: () => Promise<T> }) {
  let fire!: (answer: Promise<T>) => void;
  const triggered = new Promise<T>((resolve) => (fire = resolve));
  let answered = 0;
  let next = 0;
  const results: R[] = [];
  const lane = async () => {
    while (next < plan.length) {
      results.push(await send(plan[next++]!));
      if (++answered === o.fireAfter) fire(o.trigger());
    }
  };
  const done = Promise.all(Array.from({ length: o.concurrency }, lane)).then(() => results);
  return { triggered, done };
}

/** `fn` over every item, at most `concurrency` at once; the answers in the items' order. */
export async function inLanes<T, R>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, lane));
  return out;
}
