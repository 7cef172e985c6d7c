import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RegistryDocument } from '../../src/clients/registry-file.js';
import { startSts, type TestSts, type TestStsOptions } from './sts.js';

/** A server listening on 127.0.0.1 and a free port. */
export interface Listening {
  server: Server;
  url: string;
  port: number;
  /** Drops every connection, then closes. */
  close(): Promise<void>;
}

/** Listens with a server made elsewhere (e.g. agent-sts's own http front) on 127.0.0.1 and a free port. */
export async function listenOn(server: Server): Promise<Listening> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    server,
    url: `http://127.0.0.1:${port}`,
    port,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** An http server on 127.0.0.1 and a free port, whose handler can be set once its URL is known (503 until then). */
export async function listen(handler?: RequestListener): Promise<Listening & { handle(h: RequestListener): void }> {
  let current: RequestListener = handler ?? ((_req, res) => res.writeHead(503).end());
  const server = createServer((req, res) => current(req, res));
  server.keepAliveTimeout = 1_000;
  return {
    ...(await listenOn(server)),
    handle(h) {
      current = h;
    },
  };
}

/** agent-sts listening for real, its issuer its own URL, so a resource server can discover and call it. */
export async function listeningSts(opts: Omit<TestStsOptions, 'issuer'> & { registry?: (issuer: string) => RegistryDocument } = {}) {
  const http = await listen();
  const { registry, ...rest } = opts;
  const sts: TestSts = await startSts({ ...rest, issuer: http.url, ...(registry ? { registry: registry(http.url) } : {}) });
  http.handle(sts.app);
  return {
    sts,
    issuer: http.url,
    async close() {
      await http.close();
      await sts.close();
    },
  };
}

/** A port that refuses connections: where an unreachable authorization server would be. */
export async function closedPortUrl(): Promise<string> {
  const h = await listen();
  await h.close();
  return h.url;
}
