/**
 * Security Event Tokens waiting for resource servers (SSF poll, RFC 8936): one stream per audience,
 * each subscriber's delivery state beside it. Redis and memory twins pass test/contract/ssf-store.
 */

/** One signed SET in an audience's stream. */
export interface SsfEntry {
  /** The stream position (`<ms>-<seq>`, the service clock). */
  id: string;
  jti: string;
  set: string;
}

export interface SsfPoll {
  /** The subscriber's stream (one per subscriber; `default` is the resource server's own). */
  stream: string;
  /** jtis the subscriber acknowledges: never delivered again. */
  ack: string[];
  /** At most this many SETs (0: acknowledge only). */
  maxEvents: number;
  nowMs: number;
  /** Entries older than this are trimmed before reading (the retention window). */
  retentionMs: number;
}

/**
 * How many positions one audience may keep: its managed streams and the stream names its
 * subscribers polled, together. A polled name idle for `idleMs` gives its place to a new one (its
 * subscriber, if it comes back, starts again at the oldest SET kept: nothing is lost, some come twice).
 */
export interface StreamQuota {
  max: number;
  idleMs: number;
}

export interface SsfPolled {
  /** The oldest unacknowledged SETs after the subscriber's position, at most maxEvents. */
  sets: SsfEntry[];
  moreAvailable: boolean;
  /**
   * Unacknowledged SETs were trimmed by retention before this subscriber read them: it must drop
   * whatever it derived from the stream (its caches). Said once; the position moves past the gap.
   * A new subscriber starts at the oldest SET kept and is never told.
   */
  resync: boolean;
  /** The newest entry's id after the read ('0-0': the stream is empty); see `head`. */
  head: string;
}

/** What a verification request came to: appended, no managed stream of that id, or too soon after the last. */
export type VerifyOutcome = { status: 'appended' } | { status: 'no-stream' } | { status: 'too-soon'; retryAfterMs: number };

/** Where a resource server wants its SETs pushed (RFC 8935), and how delivery there is going. */
export interface PushTarget {
  endpoint: string;
  /** Sent as the Authorization header of every push, when set. */
  authorization?: string;
}

export interface PushState {
  /** Consecutive failed attempts (0: delivering fine). */
  attempts: number;
  /** No attempt before this (ms). */
  nextAtMs: number;
  /** When the current run of failures began (ms); 0 when none. */
  failingSinceMs: number;
  lastError: string;
  /** Whether this run of failures was reported to the audit trail. */
  reported: boolean;
}

export const NO_PUSH_FAILURE: PushState = { attempts: 0, nextAtMs: 0, failingSinceMs: 0, lastError: '', reported: false };

export interface SsfStore {
  /** Registers (or replaces) `aud`'s push target, its delivery state fresh; undefined removes it. */
  setPush(aud: string, target: PushTarget | undefined): Promise<void>;
  /** Audiences with a push target. */
  pushAudiences(): Promise<string[]>;
  push(aud: string): Promise<{ target: PushTarget; state: PushState } | undefined>;
  /** Saves the delivery state (ignored when the target was removed meanwhile). */
  savePushState(aud: string, state: PushState): Promise<void>;
  /** Takes (or extends) the right to deliver `aud`'s pushes for `ttlMs`: one instance at a time. */
  lease(aud: string, holder: string, ttlMs: number, nowMs: number): Promise<boolean>;
  /** Gives the lease up, if `holder` has it. */
  release(aud: string, holder: string): Promise<void>;
  /** SSF stream management: a stream's configuration (JSON) under its id; false when the quota has no room. */
  addStream(aud: string, id: string, config: string, quota: StreamQuota, nowMs: number): Promise<boolean>;
  /** id → configuration JSON. */
  streams(aud: string): Promise<Map<string, string>>;
  /** Deletes a managed stream with its position; false, and nothing changed, when `aud` has no managed stream `id`. One atomic step. */
  removeStream(aud: string, id: string): Promise<boolean>;
  /**
   * Appends SETs to `aud`'s stream, in order, trims entries older than the retention window, and
   * tells every subscriber (`subscribe`), on every instance.
   */
  append(aud: string, sets: { jti: string; set: string }[], nowMs: number, retentionMs: number): Promise<void>;
  /** Appends a managed stream's verification SET unless its last one is less than `intervalMs` old. One atomic step. */
  verify(aud: string, stream: string, v: { jti: string; set: string }, nowMs: number, retentionMs: number, intervalMs: number): Promise<VerifyOutcome>;
  /**
   * Applies the acks, then reads what the subscriber has not acknowledged. One atomic step. With a
   * quota, a stream name new to the audience (not a managed stream) takes a place: undefined, and
   * nothing changed, when there is none. Without, the position is agent-sts's own (push delivery).
   */
  poll(aud: string, p: SsfPoll & { quota: StreamQuota }): Promise<SsfPolled | undefined>;
  poll(aud: string, p: SsfPoll): Promise<SsfPolled>;
  /** The id of the newest entry of `aud`'s stream ('0-0' when empty): it changes with every append. */
  head(aud: string): Promise<string>;
  /** `onAppend(aud)` after every append to any audience's stream, on any instance; resolves to the unsubscribe. */
  subscribe(onAppend: (aud: string) => void): Promise<() => Promise<void>>;
}

/** Entries one poll looks at past the subscriber's position (acknowledged-ahead ones included). */
export const SSF_POLL_WINDOW = 2_000;
/** The stream whose position push delivery keeps (a poll subscriber may not name it). */
export const PUSH_STREAM = 'push';
/** The most SETs one poll returns (RFC 8936 maxEvents is capped here). */
export const SSF_MAX_EVENTS = 1_000;
