/**
 * Runs `work` over `items` at most `size` at a time (each window waits for the one before): store
 * calls sent all at once wait behind each other in Redis and run into the per-command timeout.
 * Resolves the results in the items' order.
 */
export async function inWindows<T, R>(items: readonly T[], size: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += size) out.push(...(await Promise.all(items.slice(i, i + size).map(work))));
  return out;
}
