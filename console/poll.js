// "Live" pages refresh by polling, and only while the tab is visible.

export const POLL_INTERVAL_MS = 2_000;

/** Runs `refresh` now and then every interval while the tab is visible; returns a stop function. */
export function poll(refresh, intervalMs = POLL_INTERVAL_MS) {
  let timer = null;
  let stopped = false;
  const schedule = () => {
    clearTimeout(timer);
    if (!stopped && document.visibilityState === 'visible') timer = setTimeout(tick, intervalMs);
  };
  const tick = async () => {
    try {
      await refresh();
    } finally {
      schedule();
    }
  };
  const onVisibility = () => {
    if (document.visibilityState === 'visible') void tick();
    else clearTimeout(timer);
  };
  document.addEventListener('visibilitychange', onVisibility);
  void tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
    document.removeEventListener('visibilitychange', onVisibility);
  };
}
