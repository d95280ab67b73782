import { connect, createServer } from 'node:net';
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';

/**
 * The two ends of the ambassador benchmark, each in its own worker thread so that the proxy
 * (in the main thread, as in the agent) does not share a thread with either:
 *   endpoint: a sink (counts what it reads, answers the count at EOF), a source (sends as
 *             many bytes as the first line asks for) and an echo server;
 *   client:   drives a transfer or round trips against a port and reports timings.
 */
export type PeerRequest =
  | { kind: 'transfer'; port: number; bytes: number }
  | { kind: 'download'; port: number; bytes: number }
  | { kind: 'roundtrips'; port: number; count: number; size: number }
  | { kind: 'connects'; port: number; count: number; size: number };

export type PeerReply = { ms: number; bytes?: number } | { samples: number[] } | { error: string };

const HOST = '127.0.0.1';

function endpoint(): void {
  const sink = createServer({ allowHalfOpen: true }, (s) => {
    let n = 0;
    s.on('data', (d: Buffer) => (n += d.length));
    s.on('end', () => s.end(String(n)));
    s.on('error', () => undefined);
  });
  const echo = createServer((s) => {
    s.setNoDelay(true);
    s.pipe(s);
    s.on('error', () => undefined);
  });
  const chunk = Buffer.alloc(256 * 1024, 7);
  const source = createServer((s) => {
    s.on('error', () => undefined);
    let asked = '';
    s.on('data', (d: Buffer) => {
      asked += d.toString();
      if (!asked.includes('\n')) return;
      let left = Number(asked.trim());
      const pump = () => {
        while (left > 0) {
          const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
          left -= piece.length;
          if (!s.write(piece)) return void s.once('drain', pump);
        }
        s.end();
      };
      pump();
    });
  });
  let listening = 0;
  const ready = () => {
    if (++listening < 3) return;
    const port = (srv: typeof sink) => (srv.address() as { port: number }).port;
    parentPort!.postMessage({ sink: port(sink), echo: port(echo), source: port(source) });
  };
  sink.listen(0, HOST, ready);
  echo.listen(0, HOST, ready);
  source.listen(0, HOST, ready);
}

async function transfer(port: number, bytes: number): Promise<PeerReply> {
  const chunk = Buffer.alloc(256 * 1024, 7);
  const t0 = performance.now();
  return new Promise((resolve) => {
    const s = connect({ port, host: HOST, allowHalfOpen: true });
    let answer = '';
    s.on('data', (d: Buffer) => (answer += d.toString()));
    s.on('end', () => {
      s.end();
      resolve({ ms: performance.now() - t0, bytes: Number(answer) });
    });
    s.on('error', (err) => resolve({ error: err.message }));
    let written = 0;
    const pump = () => {
      while (written < bytes) {
        const piece = bytes - written >= chunk.length ? chunk : chunk.subarray(0, bytes - written);
        written += piece.length;
        if (!s.write(piece)) return void s.once('drain', pump);
      }
      s.end();
    };
    s.on('connect', pump);
  });
}

/** Asks the source for `bytes` and reads them to the end. */
async function download(port: number, bytes: number): Promise<PeerReply> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const s = connect({ port, host: HOST });
    let got = 0;
    s.on('connect', () => s.write(`${bytes}\n`));
    s.on('data', (d: Buffer) => (got += d.length));
    s.on('end', () => {
      s.end();
      resolve({ ms: performance.now() - t0, bytes: got });
    });
    s.on('error', (err) => resolve({ error: err.message }));
  });
}

/** One message of `size` bytes, then wait for all of it back: `count` times on one connection. */
async function roundtrips(port: number, count: number, size: number): Promise<PeerReply> {
  const s = connect({ port, host: HOST });
  s.setNoDelay(true);
  await new Promise<void>((resolve, reject) => s.once('connect', resolve).once('error', reject));
  const msg = Buffer.alloc(size, 1);
  const samples: number[] = [];
  let pending = 0;
  let done: (() => void) | undefined;
  s.on('data', (d: Buffer) => {
    pending -= d.length;
    if (pending <= 0) done?.();
  });
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    pending = size;
    await new Promise<void>((resolve) => {
      done = resolve;
      s.write(msg);
    });
    samples.push(performance.now() - t0);
  }
  s.destroy();
  return { samples };
}

/** Connect, one round trip, close: `count` times (what a proxy adds per connection). */
async function connects(port: number, count: number, size: number): Promise<PeerReply> {
  const msg = Buffer.alloc(size, 1);
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    await new Promise<void>((resolve, reject) => {
      const s = connect({ port, host: HOST });
      s.setNoDelay(true);
      let got = 0;
      s.on('data', (d: Buffer) => {
        got += d.length;
        if (got >= size) {
          s.destroy();
          resolve();
        }
      });
      s.on('error', reject);
      s.on('connect', () => s.write(msg));
    });
    samples.push(performance.now() - t0);
  }
  return { samples };
}

function client(): void {
  parentPort!.on('message', (req: PeerRequest) => {
    const run =
      req.kind === 'transfer' ? transfer(req.port, req.bytes) : req.kind === 'download' ? download(req.port, req.bytes) : req.kind === 'roundtrips' ? roundtrips(req.port, req.count, req.size) : connects(req.port, req.count, req.size);
    run.then(
      (r) => parentPort!.postMessage(r),
      (err: Error) => parentPort!.postMessage({ error: err.message }),
    );
  });
}

if (parentPort) {
  if ((workerData as { role: string }).role === 'endpoint') endpoint();
  else client();
}
