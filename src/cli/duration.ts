import { usageError } from './io.js';

const SECONDS_PER_UNIT = { s: 1, m: 60, h: 3_600, d: 86_400 } as const;
const DURATION = /^([0-9]{1,7})([smhd]?)$/;

/** `90`, `90s`, `15m`, `1h`, `7d` → seconds (a bare number is seconds). */
export function parseDuration(raw: string): number {
  const m = DURATION.exec(raw);
  if (!m) throw usageError(`'${raw}' is not a duration: a whole number with s, m, h or d (e.g. 1h)`);
  return Number(m[1]) * SECONDS_PER_UNIT[(m[2] || 's') as keyof typeof SECONDS_PER_UNIT];
}
