import type { Logger } from 'pino';

/**
 * Every issuance, denial and kill passes through one EventSink. Today it writes structured log
 * lines; the hash-chained audit trail and CAEP session-revoked push will subscribe here.
 */
export type StsEvent =
  | { type: 'token.issued'; requestId: string; sid: string; parent?: string; agent: string; sub: string; aud: string; scope: string[]; exp: number; grant: string }
  | { type: 'token.denied'; requestId: string; agent?: string; grant?: string; error: string; description?: string }
  | { type: 'session.revoked'; requestId: string; sid: string; revoked: number; by: string; reason: 'revocation' | 'admin' }
  | { type: 'agent.sessions_revoked'; requestId: string; agent: string; revoked: number; by: string };

export interface EventSink {
  emit(event: StsEvent): void;
}

export function logEventSink(log: Logger): EventSink {
  return { emit: (event) => log.info({ event }, event.type) };
}

/** Keeps events in memory: for tests and for wiring several sinks together. */
export class RecordingEventSink implements EventSink {
  readonly events: StsEvent[] = [];
  emit(event: StsEvent): void {
    this.events.push(event);
  }
}

export function fanOut(...sinks: EventSink[]): EventSink {
  return { emit: (e) => sinks.forEach((s) => s.emit(e)) };
}
