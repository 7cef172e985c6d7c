import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RegistryDocument } from '../../src/clients/registry-file.js';
import { startSts, type TestSts, type TestStsOptions } from '../helpers/sts.js';

/** An http server on 127.0.0.1 and a free port, whose handler is set once its URL is known. */
export async function listen(handler?: RequestListener): Promise<{ server: Server; url: string; handle(h: RequestListener): void; close(): Promise<void> }> {
  let current: RequestListener = handler ?? ((_req, res) => res.writeHead(503).end());
  const server = createServer((req, res) => current(req, res));
  server.keepAliveTimeout = 1_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    server,
    url,
    handle(h) {
      current = h;
    },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
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

/** Waits until `cond` holds (checked every 10 ms), failing after `ms`: for what happens in the background. */
export async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
