import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';

/** Local HTTP backends for router tests; `closeAll` in the test file's `after`. */
export class LocalBackends {
  private readonly servers: Server[] = [];

  /** A backend on 127.0.0.1 whose page (sent after `delayMs`) is its name and the X-Forwarded-* headers it got. */
  async start(name: string, delayMs = 0): Promise<number> {
    const s = createServer((req, res) => {
      const page = `${name} xff=${req.headers['x-forwarded-for']} proto=${req.headers['x-forwarded-proto']} host=${req.headers['x-forwarded-host']}`;
      setTimeout(() => res.end(page), delayMs);
    });
    this.servers.push(s);
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    return (s.address() as { port: number }).port;
  }

  closeAll(): void {
    for (const s of this.servers.splice(0)) s.close();
  }
}

/** A port nothing listens on now (for haproxy to bind, or for an endpoint that refuses). */
export { freePort } from '../../src/net/free-port.js';

/**
 * GET / on 127.0.0.1:port with this Host header (fetch would put the URL's own), on a fresh
 * connection; over TLS with `tls` (SNI = host, trusting `ca`).
 */
export function getWithHost(port: number, host: string, tls?: { ca: string }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const opts = { host: '127.0.0.1', port, path: '/', headers: { host }, agent: false as const };
    const onResponse = (res: import('node:http').IncomingMessage) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    };
    const req = tls ? httpsRequest({ ...opts, servername: host, ca: tls.ca }, onResponse) : request(opts, onResponse);
    req.on('error', reject);
    req.end();
  });
}

/** Polls `probe` until it returns a value (errors count as not yet), or fails the test. */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what} (${String(last)})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
