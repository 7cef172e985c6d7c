import type { RequestListener, Server } from 'node:http';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Config } from '../config/index.js';
import { OAuthError } from '../errors.js';
import { writeJson } from './respond.js';
import { createHttpServer } from './server.js';

/** GET /metrics in Prometheus' text format; nothing else is served on this port. */
export function metricsListener(registry: Registry, log: Logger): RequestListener {
  return (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      writeJson(res, 404, {}, new OAuthError(404, 'not_found', 'only GET /metrics is served here').body());
      return;
    }
    registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'Content-Type': registry.contentType, 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (err: Error) => {
        log.error({ err: err.message }, 'metrics collection failed');
        writeJson(res, 500, {}, new OAuthError(500, 'server_error').body());
      },
    );
  };
}

/**
 * The second listener, on STS_METRICS_PORT and the same HOST as the main server, with the same
 * slow-client limits; resolves once it listens. Undefined when STS_METRICS_PORT is unset.
 */
export async function startMetricsServer(config: Pick<Config, 'metricsPort' | 'host' | 'http'>, registry: Registry | undefined, log: Logger): Promise<Server | undefined> {
  if (config.metricsPort === undefined || !registry) return undefined;
  const server = createHttpServer(config, metricsListener(registry, log));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.metricsPort, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}
