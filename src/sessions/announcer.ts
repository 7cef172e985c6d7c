import type { RequestContext } from '../audit/context.js';
import type { EventSink } from '../audit/events.js';
import { revocationAnnounced } from '../audit/records.js';
import { killedSession, type KilledSession, type SessionStore, type UnannouncedTree } from '../store/index.js';
import { unexpired } from '../store/liveness.js';
import type { Clock } from './clock.js';

/**
 * A kill that began this long ago and has not confirmed its announcement is overdue: it failed
 * (its answer was a 503) or its process died. A kill still running normally confirms well within.
 */
export const ANNOUNCE_GRACE_MS = 2_000;
/** How often every instance looks for overdue kills. */
export const ANNOUNCE_SWEEP_MS = 1_000;
/** Trees one drain reads from the outbox; the next drain takes the rest. */
const DRAIN_TREES = 500;
/** Who records what the outbox announces late (the envelope's actor). */
export const OUTBOX_ACTOR = 'agent-sts';

/**
 * Finishes kills whose record or announcement never landed: every killed session the kill outbox
 * still holds is recorded (`revocation.announced`, durable) and so, through the SSF sink,
 * announced to its resource server as a CAEP session-revoked SET; only then does it leave the
 * outbox. Drained by a sweep on every instance, by the SSF poll before it answers, and by a kill
 * that removed nothing (a retry). Two drains racing announce a session twice: harmless, a
 * receiver keeps a set of revoked sessions.
 */
export class KillAnnouncer {
  #sweeper: NodeJS.Timeout | undefined;
  #sweeps = 0;

  constructor(
    private readonly store: SessionStore,
    private readonly events: EventSink,
    private readonly clock: Clock,
    /** A sweep that failed: logged by the wiring file; the next sweep retries. */
    private readonly onSweepError: (err: unknown) => void = () => {},
  ) {}

  /**
   * Records and announces every session of kills that began more than `graceMs` ago and never
   * confirmed; resolves how many sessions it announced. Rejects (the store or a durable sink
   * failed) with the outbox unchanged for whatever was not recorded.
   */
  async drain(context: RequestContext, graceMs = ANNOUNCE_GRACE_MS): Promise<number> {
    const nowMs = this.clock.nowMs();
    // marks of kills that began at or before nowMs - graceMs (a retry in the same millisecond included)
    const trees = await this.store.unannounced(nowMs - graceMs + 1, DRAIN_TREES);
    if (trees.length === 0) return 0;
    let announced = 0;
    for (const [key, sessions] of groupByKill(trees, nowMs)) {
      const [kill, reason] = key.split('\n') as [string, string];
      await this.events.record(revocationAnnounced(kill, reason, sessions, OUTBOX_ACTOR, context, this.clock.nowMs()));
      announced += sessions.length;
    }
    await this.store.forgetAnnounced(trees);
    return announced;
  }

  start(): void {
    this.#sweeper = setInterval(() => {
      const context = { requestId: `sweep-${++this.#sweeps}`, startedMs: this.clock.nowMs() };
      this.drain(context).catch(this.onSweepError);
    }, ANNOUNCE_SWEEP_MS).unref();
  }

  close(): void {
    clearInterval(this.#sweeper);
  }
}

/** The trees' live sessions grouped by the kill that removed them (expired ones need no announcement). */
function groupByKill(trees: UnannouncedTree[], nowMs: number): Map<string, KilledSession[]> {
  const out = new Map<string, KilledSession[]>();
  for (const t of trees) {
    for (const s of t.sessions) {
      if (!unexpired(s.exp, nowMs)) continue;
      const key = `${s.kill}\n${s.reason}`;
      const list = out.get(key);
      if (list) list.push(killedSession(s));
      else out.set(key, [killedSession(s)]);
    }
  }
  return out;
}
