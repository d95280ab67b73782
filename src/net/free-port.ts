import { createServer } from 'node:net';

/** A TCP port free on 127.0.0.1 when asked (another process may take it after): for the test and benchmark servers a process starts itself. */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}
