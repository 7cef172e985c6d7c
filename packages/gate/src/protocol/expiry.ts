/**
 * The one expiry rule, for both sides of a token: `exp` counts seconds (as in a JWT), clocks count
 * milliseconds; a token is live strictly before its `exp`.
 */
export const MS_PER_EXP_UNIT = 1_000;

export const unexpired = (exp: number, nowMs: number): boolean => exp * MS_PER_EXP_UNIT > nowMs;

/** The moment (ms) a token with this `exp` stops being live. */
export const expiresAtMs = (exp: number): number => exp * MS_PER_EXP_UNIT;
