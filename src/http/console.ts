import { fileURLToPath } from 'node:url';
import express, { Router } from 'express';

/** The console's static files: the top-level console/ folder, beside src/ and dist/ alike. */
export const CONSOLE_DIR = fileURLToPath(new URL('../../console/', import.meta.url));

/** Only our own files, no inline script or style, no framing, no form posts, no <base> tricks. */
export const CONSOLE_CSP = [
  "default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "img-src 'self'",
  "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
].join('; ');

/** The files change with a release: the browser revalidates instead of running a stale console against a new API. */
const CACHE_CONTROL = 'no-cache';

/** GET /console/: the admin web console (it talks to the admin API with the admin's own token). */
export function consoleRouter(): Router {
  const r = Router();
  r.use((_req, res, next) => {
    res.set({
      'Content-Security-Policy': CONSOLE_CSP, 'X-Content-Type-Options': 'nosniff', 'Referrer-Policy': 'no-referrer',
      'Cache-Control': CACHE_CONTROL,
    });
    next();
  });
  r.use(express.static(CONSOLE_DIR));
  return r;
}
