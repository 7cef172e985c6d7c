// A resource server in local mode hearing kills by agent-sts's revocation feed (SSF poll), for the
// push group: POST /api answers {ok} for a live token (verified with the JWKS, no introspection);
// GET /feed says whether the feed is fresh and its counters. Env: PORT, STS_ISSUER, RS_AUDIENCE,
// RS_SECRET. Run by bench/run.mjs.
import './orphan-guard.mjs';
import { requireToken, revocationFeed } from 'agent-sts-gate/express';
import express from 'express';

const { PORT, STS_ISSUER: issuer, RS_AUDIENCE: audience, RS_SECRET: clientSecret } = process.env;

const feed = revocationFeed({ issuer, audience, credentials: { clientId: audience, clientSecret } });
feed.start();
const app = express();
app.disable('x-powered-by');
app.set('etag', false);
app.post('/api', requireToken({ issuer, audience, mode: 'local', clientSecret, revocations: feed, scopes: ['read'] }), (req, res) => res.json({ ok: true }));
app.get('/feed', (_req, res) => res.json({ fresh: feed.fresh(), ...feed.stats() }));
app.listen(Number(PORT), '127.0.0.1');
