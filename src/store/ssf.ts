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
}

export interface SsfStore {
  /** Appends SETs to `aud`'s stream, in order, and trims entries older than the retention window. */
  append(aud: string, sets: { jti: string; set: string }[], nowMs: number, retentionMs: number): Promise<void>;
  /** Applies the acks, then reads what the subscriber has not acknowledged. One atomic step. */
  poll(aud: string, p: SsfPoll): Promise<SsfPolled>;
}

/** Entries one poll looks at past the subscriber's position (acknowledged-ahead ones included). */
export const SSF_POLL_WINDOW = 2_000;
/** The most SETs one poll returns (RFC 8936 maxEvents is capped here). */
export const SSF_MAX_EVENTS = 1_000;
