import { describe, expect, it } from '@jest/globals';
import { boundFields, MAX_RECORD_FIELD_CHARS, truncate, TRUNCATION_MARK } from '../../src/audit/bounds.js';
import { RecordingEventSink, type BestEffortEvent, type DurableEvent } from '../../src/audit/events.js';
import { addressGroup, DENIAL_WINDOW_MS, TrailGuard } from '../../src/audit/guard.js';

/**
 * The guard in front of the trail's sink: every record's strings bounded (one helper), and refusals
 * of callers that never authenticated counted per window, with caps on the callers it tracks.
 */

const T0 = Date.parse('2026-12-01T00:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();

type Denied = Extract<BestEffortEvent, { type: 'token.denied' }>;

function denied(over: Partial<Denied> = {}): Denied {
  return {
    type: 'token.denied', time: iso(T0), requestId: 'r', actor: null, endpoint: 'token', error: 'invalid_client',
    reason: 'client_authentication_failed', description: 'client authentication failed', address: '192.0.2.1', clientId: 'billing-agent', ...over,
  };
}

function guarded(limits: { maxKeys?: number; maxKeysPerAddress?: number } = {}) {
  const inner = new RecordingEventSink();
  let now = T0;
  const guard = new TrailGuard(inner, () => now, limits);
  return { inner, guard, advance: (ms: number) => (now += ms), now: () => now };
}

describe('record bounds', () => {
  it('keeps a short string and returns the same event when nothing is too long', () => {
    const e = denied();
    expect(truncate('abc')).toBe('abc');
    expect(boundFields(e)).toBe(e);
  });

  it('cuts a 60 KB field to the limit with the mark, and notes its original length', () => {
    const e = denied({ description: 'x'.repeat(61_440), clientId: 'y'.repeat(MAX_RECORD_FIELD_CHARS + 1) });
    const b = boundFields(e);
    expect(b.description).toBe(`${'x'.repeat(MAX_RECORD_FIELD_CHARS - 1)}${TRUNCATION_MARK}`);
    expect(b.clientId).toHaveLength(MAX_RECORD_FIELD_CHARS);
    expect(b.truncated).toEqual({ description: 61_440, clientId: MAX_RECORD_FIELD_CHARS + 1 });
    expect(b.reason).toBe(e.reason);
    expect(e).toEqual(denied({ description: 'x'.repeat(61_440), clientId: 'y'.repeat(MAX_RECORD_FIELD_CHARS + 1) }));
  });

  it('never splits a surrogate pair, and merges lengths already noted', () => {
    const emoji = '\u{1F600}';
    const cut = truncate(`${'a'.repeat(MAX_RECORD_FIELD_CHARS - 2)}${emoji.repeat(10)}`);
    expect(cut).toBe(`${'a'.repeat(MAX_RECORD_FIELD_CHARS - 2)}${TRUNCATION_MARK}`);
    expect(boundFields({ a: 'b'.repeat(600), truncated: { c: 700 } })).toEqual({ a: `${'b'.repeat(511)}${TRUNCATION_MARK}`, truncated: { c: 700, a: 600 } });
  });
});

describe('TrailGuard', () => {
  it('writes the first refusal of a window at once and the other 199 as one record with a count when it closes', () => {
    const { inner, guard, advance } = guarded();
    for (let i = 0; i < 200; i++) {
      guard.emit(denied({ requestId: `r${i}` }));
      advance(100);
    }
    expect(inner.events).toEqual([denied({ requestId: 'r0' })]);
    advance(DENIAL_WINDOW_MS - 200 * 100 - 1);
    guard.flushDue();
    expect(inner.events).toHaveLength(1);
    advance(1);
    guard.flushDue();
    expect(inner.events).toEqual([
      denied({ requestId: 'r0' }),
      { ...denied({ requestId: 'r199' }), time: iso(T0 + DENIAL_WINDOW_MS), count: 199, firstTime: iso(T0 + 100), lastTime: iso(T0 + 19_900) },
    ]);
    guard.emit(denied({ requestId: 'next' }));
    expect(inner.events.at(-1)).toEqual(denied({ requestId: 'next' }));
    expect(guard.open).toBe(1);
  });

  it('a single refusal writes one record and nothing when its window closes', () => {
    const { inner, guard, advance } = guarded();
    guard.emit(denied());
    advance(DENIAL_WINDOW_MS);
    guard.flushDue();
    expect(inner.events).toEqual([denied()]);
    expect(guard.open).toBe(0);
  });

  it('counts each (endpoint, address, client id, reason) apart', () => {
    const { inner, guard } = guarded();
    const kinds = [{}, { clientId: 'other' }, { address: '192.0.2.2' }, { endpoint: 'introspect' as const }, { reason: 'agent_disabled' }, { clientId: undefined }];
    for (let i = 0; i < 3; i++) for (const k of kinds) guard.emit(denied(k));
    expect(inner.events).toEqual(kinds.map((k) => denied(k)));
    guard.close();
    expect(inner.events.slice(kinds.length)).toEqual(kinds.map((k) => expect.objectContaining({ ...denied(k), count: 2 })));
  });

  it('passes authenticated refusals and other events through one by one, bounded', () => {
    const { inner, guard } = guarded();
    const mine = denied({ actor: 'billing-agent', agent: 'billing-agent', clientId: undefined, description: 'd'.repeat(1_000) });
    guard.emit(mine);
    guard.emit(mine);
    expect(inner.events).toEqual([boundFields(mine), boundFields(mine)]);
    expect((inner.events[0] as { truncated?: unknown }).truncated).toEqual({ description: 1_000 });
  });

  it('bounds durable records but token.issued, which it hands on untouched', async () => {
    const { inner, guard } = guarded();
    const kill: DurableEvent = { type: 'revocation.requested', time: iso(T0), requestId: 'r', actor: 'admin', of: 'subject', sub: 's'.repeat(16_000), by: 'admin' };
    const issued: DurableEvent = {
      type: 'token.issued', time: iso(T0), requestId: 'r', actor: 'a', sid: 'x', agent: 'a', sub: 'a', aud: 'https://api', scope: ['s'], exp: 1, grant: 'client_credentials',
    };
    await guard.record(kill);
    await guard.record(issued);
    expect(inner.events[0]).toMatchObject({ sub: `${'s'.repeat(511)}${TRUNCATION_MARK}`, truncated: { sub: 16_000 } });
    expect(inner.events[1]).toBe(issued);
  });

  it('past its per-address cap, an address\'s new callers share one overflow window naming the address', () => {
    const { inner, guard } = guarded({ maxKeysPerAddress: 2 });
    for (let i = 0; i < 5; i++) guard.emit(denied({ clientId: `c${i}` }));
    guard.emit(denied({ clientId: 'c0', address: '192.0.2.9' }));
    expect(inner.events).toEqual([denied({ clientId: 'c0' }), denied({ clientId: 'c1' }), denied({ clientId: 'c2' }), denied({ clientId: 'c0', address: '192.0.2.9' })]);
    guard.close();
    expect(inner.events.slice(4)).toEqual([{
      type: 'token.denied_overflow', time: iso(T0), requestId: 'r', actor: null, count: 2, firstTime: iso(T0), lastTime: iso(T0), address: '192.0.2.1',
    }]);
  });

  it('past its global cap, new callers share one overflow window without an address; memory stays bounded', () => {
    const { inner, guard } = guarded({ maxKeys: 3 });
    for (let i = 0; i < 50; i++) guard.emit(denied({ address: `192.0.2.${i}` }));
    expect(inner.events).toHaveLength(4);
    expect(guard.open).toBe(4);
    guard.close();
    expect(inner.events.at(-1)).toEqual({ type: 'token.denied_overflow', time: iso(T0), requestId: 'r', actor: null, count: 46, firstTime: iso(T0), lastTime: iso(T0) });
    expect(guard.open).toBe(0);
  });

  it('an IPv6 address counts against its /64', () => {
    expect(addressGroup('2001:db8:1:2::1')).toBe('2001:db8:1:2::/64');
    expect(addressGroup('2001:0db8:0001:0002:ffff:0:0:9')).toBe('2001:db8:1:2::/64');
    expect(addressGroup('::1')).toBe('0:0:0:0::/64');
    expect(addressGroup('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(addressGroup('::ffff:192.0.2.1')).toBe('::ffff:192.0.2.1');
    expect(addressGroup('192.0.2.1')).toBe('192.0.2.1');
    const { inner, guard } = guarded({ maxKeysPerAddress: 1 });
    guard.emit(denied({ address: '2001:db8:1:2::1' }));
    guard.emit(denied({ address: '2001:db8:1:2::2' }));
    guard.emit(denied({ address: '2001:db8:1:2::3' }));
    guard.close();
    expect(inner.events.map((e) => e.type)).toEqual(['token.denied', 'token.denied', 'token.denied_overflow']);
    expect(inner.events[2]).toMatchObject({ address: '2001:db8:1:2::/64', count: 1 });
  });

  it('a window opened after the clock stepped back is closed on the next look', () => {
    const { inner, guard, advance } = guarded();
    guard.emit(denied());
    guard.emit(denied());
    advance(-5_000);
    guard.flushDue();
    expect(inner.events.map((e) => (e as { count?: number }).count)).toEqual([undefined, 1]);
  });
});
