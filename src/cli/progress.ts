import type { AdminRun } from './command-kit.js';

/** How often the progress line's elapsed time is redrawn. */
const REDRAW_MS = 1_000;
const MS_PER_SECOND = 1_000;
/** Back to the line's start and erase it (ECMA-48 EL). */
const CLEAR_LINE = '\r\x1b[K';

/**
 * Long work with a line on the terminal saying what is going on and for how long, erased when it
 * ends: only when stderr is a terminal and the output is for people (nothing with --json or in a pipe).
 */
export async function withProgress<T>(run: AdminRun, what: string, work: Promise<T>): Promise<T> {
  const stderr = run.io.stderr as AdminRun['io']['stderr'] & { isTTY?: boolean };
  if (run.json || !stderr.isTTY) return work;
  const startedMs = Date.now();
  const draw = () => stderr.write(`${CLEAR_LINE}${what}… ${Math.floor((Date.now() - startedMs) / MS_PER_SECOND)} s`);
  draw();
  const timer = setInterval(draw, REDRAW_MS);
  try {
    return await work;
  } finally {
    clearInterval(timer);
    stderr.write(CLEAR_LINE);
  }
}
