// A small express API behind agent-sts-gate/express, one route per mode: no auth at all, introspection
// without a cache, introspection with a 60 s cache, and local JWT verification. Each answers the
// same small JSON. Env: PORT, STS_ISSUER, RS_AUDIENCE, RS_SECRET. Run by bench/run.mjs.
import './orphan-guard.mjs';
import { requireToken } from 'agent-sts-gate/express';
import express from 'express';

const { PORT, STS_ISSUER: issuer, RS_AUDIENCE: audience, RS_SECRET: clientSecret } = process.env;
const CACHE_SECONDS = 60;

const app = express();
app.disable('x-powered-by');
app.set('etag', false);
const answer = (req, res) => res.json({ ok: true, clientId: req.auth?.clientId ?? null });
app.post('/none', answer);
app.post('/introspect', requireToken({ issuer, audience, clientSecret, scopes: ['read'] }), answer);
app.post('/cached', requireToken({ issuer, audience, clientSecret, scopes: ['read'], cacheMaxAgeSeconds: CACHE_SECONDS }), answer);
app.post('/local', requireToken({ issuer, audience, mode: 'local', scopes: ['read'] }), answer);
app.listen(Number(PORT), '127.0.0.1');
