import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { parseForm, type OAuthRequest, type OAuthResponse } from '../oauth/request.js';

/** Tokens are a few KB; a larger form is not a token request. */
export const FORM_BODY_LIMIT = '64kb';

const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' };

/** Reads any body as text (the endpoint itself checks the content type), within the size limit. */
export const rawFormBody: RequestHandler = express.text({ type: () => true, limit: FORM_BODY_LIMIT });

export function sendOAuth(res: Response, out: OAuthResponse): void {
  res.status(out.status ?? 200).set({ ...NO_STORE, ...out.headers });
  if (out.body === '') res.end();
  else res.json(out.body);
}

/** Adapts a framework-free OAuth endpoint to express. */
export function oauthRoute(endpointUrl: string, handler: (req: OAuthRequest) => Promise<OAuthResponse>): RequestHandler[] {
  const run = async (req: Request, res: Response, next: NextFunction) => {
    const q = req.originalUrl.indexOf('?');
    try {
      const out = await handler({
        method: req.method,
        headers: req.headers,
        query: q < 0 ? '' : req.originalUrl.slice(q + 1),
        params: parseForm(typeof req.body === 'string' ? req.body : ''),
        endpointUrl,
      });
      sendOAuth(res, out);
    } catch (err) {
      next(err);
    }
  };
  return [rawFormBody, run];
}
