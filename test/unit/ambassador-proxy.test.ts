import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { connect, createServer, Server, type Socket } from 'node:net';
import { promisify } from 'node:util';
import { EndpointPicker, type Upstream } from '../../controllers/ambassador/endpoint-picker.js';
import { CongestionControl, hostCongestion } from '../../controllers/ambassador/congestion.js';
import { fdOf, loadSplicePump, SplicePump } from '../../controllers/ambassador/splice-pump.js';
import { TcpForwarder, type ForwarderOptions } from '../../controllers/ambassador/tcp-forwarder.js';
import { DEFAULT_TCP_CONGESTION } from '../../src/config.js';
import { UdpForwarder } from '../../controllers/ambassador/udp-forwarder.js';

const HOST = '127.0.0.1';
const execFileAsync = promisify(execFile);
const servers: Server[] = [];
const forwarders: (TcpForwarder | UdpForwarder)[] = [];
// The native module is part of the build: a build that lost it fails here, not quietly slower.
const native = loadSplicePump();
const pump = native instanceof Error ? undefined : new SplicePump(native);
after(async () => {
  for (const f of forwarders) await f.close();
  for (const s of servers) s.close();
  pump?.close();
  assert.deepEqual(refusals, [], `the kernel refused ${DEFAULT_TCP_CONGESTION} for the forwarders' sockets`);
});

type Mode = 'splice' | 'copy';
const MODES: readonly Mode[] = ['splice', 'copy'];

/** What the kernel refused the forwarders' default congestion control with (nothing, on a sound host). */
const refusals: string[] = [];
// As the agent runs them: their own sockets on the default congestion control.
const congestion = native instanceof Error ? undefined : new CongestionControl(native, DEFAULT_TCP_CONGESTION, (e) => refusals.push(e));
const hostDefault = hostCongestion();

function forwarderOptions(mode: Mode): ForwarderOptions {
  // Copying works without the native module (the agent's fallback): tested so when it is missing.
  if (mode === 'copy') return congestion ? { tuneSocket: congestion.apply } : {};
  if (!congestion || !pump) throw new Error(`native module not loaded: ${(native as Error).message}`);
  return { pump, tuneSocket: congestion.apply };
}

async function server(onConnection: (s: Socket) => void, allowHalfOpen = false): Promise<Upstream> {
  const s = createServer({ allowHalfOpen }, onConnection);
  servers.push(s);
  await new Promise<void>((resolve) => s.listen(0, HOST, resolve));
  return { host: HOST, port: (s.address() as { port: number }).port };
}

/** A port nothing listens on: connecting is refused at once. */
async function refusingPort(): Promise<Upstream> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, HOST, resolve));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return { host: HOST, port };
}

async function forwarder(upstreams: Upstream[], mode: Mode, options: ForwarderOptions = {}): Promise<{ port: number; picker: EndpointPicker; fwd: TcpForwarder }> {
  const picker = new EndpointPicker();
  picker.set(upstreams);
  const fwd = new TcpForwarder(picker, { ...forwarderOptions(mode), ...options });
  forwarders.push(fwd);
  return { port: await fwd.listen(0, HOST), picker, fwd };
}

/** Connects, sends `data` (then FIN), and collects everything until the server's FIN or an error. */
function exchange(port: number, data: string): Promise<{ text: string; error?: string; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const s = connect({ port, host: HOST, allowHalfOpen: true });
    const chunks: Buffer[] = [];
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('end', () => {
      s.end();
      resolve({ text: Buffer.concat(chunks).toString(), ms: Date.now() - t0 });
    });
    s.on('error', (err: NodeJS.ErrnoException) => resolve({ text: Buffer.concat(chunks).toString(), error: err.code ?? err.message, ms: Date.now() - t0 }));
    s.end(data);
  });
}

const named = (name: string) => server((s) => {
  s.on('data', () => undefined);
  s.end(name);
});

describe('SplicePump', () => {
  it('is built and loads on this machine', () => {
    assert.ok(!(native instanceof Error), native instanceof Error ? native.message : '');
  });
});

describe('CongestionControl (real sockets on loopback)', () => {
  it('tells once that the kernel refused an algorithm, stops asking, and the connections go on with the default', async () => {
    const told: string[] = [];
    let asked = 0;
    const real = native as Exclude<typeof native, Error>;
    const counting = { setCongestion: (fd: number, name: string) => (asked++, real.setCongestion(fd, name)) };
    const cc = new CongestionControl(counting, 'nosuchcc', (e) => told.push(e));
    const { port } = await forwarder([await named('served')], 'splice', { tuneSocket: cc.apply });
    assert.equal((await exchange(port, 'a')).text, 'served');
    assert.equal((await exchange(port, 'b')).text, 'served');
    assert.deepEqual(told, ['ENOENT']);
    assert.equal(asked, 1, 'the kernel was asked once, not for each of the four sockets');
  });
});

for (const mode of MODES) describe(`TcpForwarder, ${mode === 'splice' ? 'bytes spliced in the kernel' : 'bytes copied through Node'} (real sockets on loopback)`, () => {
  it('forwards connections round-robin across the endpoints', async () => {
    const { port } = await forwarder([await named('a'), await named('b'), await named('c')], mode);
    const replies: string[] = [];
    for (let i = 0; i < 6; i++) replies.push((await exchange(port, 'hi')).text);
    assert.deepEqual(replies.sort(), ['a', 'a', 'b', 'b', 'c', 'c']);
  });

  it('passes a half-close on: the client\'s FIN reaches the server, whose answer still comes back', async () => {
    // The server answers only after the client has finished sending (it reads to the end).
    const upper = await server((s) => {
      const chunks: Buffer[] = [];
      s.on('data', (d: Buffer) => chunks.push(d));
      s.on('end', () => setTimeout(() => s.end(Buffer.concat(chunks).toString().toUpperCase()), 50));
    }, true);
    const { port } = await forwarder([upper], mode);
    const r = await exchange(port, 'hello, half-closed world');
    assert.equal(r.error, undefined);
    assert.equal(r.text, 'HELLO, HALF-CLOSED WORLD');
  });

  it('carries 100 MB each way intact, without holding the stream in memory', async () => {
    const echo = await server((s) => s.pipe(s), true);
    const { port } = await forwarder([echo], mode);
    const total = 100 * 1024 * 1024;
    const chunk = randomBytes(64 * 1024);
    const sent = createHash('sha256');
    const received = createHash('sha256');
    let receivedBytes = 0;
    let peakBuffers = 0;
    const base = process.memoryUsage().arrayBuffers;
    const sampler = setInterval(() => (peakBuffers = Math.max(peakBuffers, process.memoryUsage().arrayBuffers - base)), 20);
    await new Promise<void>((resolve, reject) => {
      const s = connect({ port, host: HOST, allowHalfOpen: true });
      s.on('data', (d: Buffer) => {
        received.update(d);
        receivedBytes += d.length;
      });
      s.on('end', () => {
        s.end();
        resolve();
      });
      s.on('error', reject);
      let written = 0;
      const pump = () => {
        while (written < total) {
          // Vary the data so that a dropped or reordered chunk changes the hash.
          const piece = Buffer.from(chunk);
          piece.writeUInt32BE(written / chunk.length, 0);
          sent.update(piece);
          written += piece.length;
          if (!s.write(piece)) return void s.once('drain', pump);
        }
        s.end();
      };
      pump();
    });
    clearInterval(sampler);
    assert.equal(receivedBytes, total);
    assert.equal(received.digest('hex'), sent.digest('hex'));
    assert.ok(peakBuffers < 64 * 1024 * 1024, `buffers peaked at ${(peakBuffers / 2 ** 20).toFixed(1)} MB`);
  });

  it('delivers a response intact to a client that reads slowly (recycled read buffers under backpressure)', async () => {
    const total = 24 * 1024 * 1024;
    const sent = createHash('sha256');
    const source = await server((s) => {
      let written = 0;
      const pump = () => {
        while (written < total) {
          const piece = randomBytes(48 * 1024); // fresh bytes: a reused buffer overwritten too early changes the hash
          sent.update(piece);
          written += piece.length;
          if (!s.write(piece)) return void s.once('drain', pump);
        }
        s.end();
      };
      pump();
    });
    const { port } = await forwarder([source], mode);
    const received = createHash('sha256');
    let bytes = 0;
    await new Promise<void>((resolve, reject) => {
      const c = connect({ port, host: HOST });
      c.on('data', (d: Buffer) => {
        received.update(d);
        bytes += d.length;
        // Stall now and then, so the forwarder's writes to us back up and it must pause the endpoint.
        if (bytes % (4 * 1024 * 1024) < d.length) {
          c.pause();
          setTimeout(() => c.resume(), 50);
        }
      });
      c.on('end', resolve);
      c.on('error', reject);
    });
    assert.equal(bytes, total);
    assert.equal(received.digest('hex'), sent.digest('hex'));
  });

  it('uses the next endpoint when one refuses, and then leaves the refusing one alone', async () => {
    const dead = await refusingPort();
    const { port, picker } = await forwarder([dead, await named('alive')], mode);
    for (let i = 0; i < 4; i++) assert.equal((await exchange(port, 'x')).text, 'alive');
    assert.equal(picker.isBad(dead, Date.now()), true);
  });

  it('resets the connection at once when the service has no endpoint', async () => {
    const { port } = await forwarder([], mode);
    const r = await exchange(port, 'anyone?');
    assert.equal(r.error, 'ECONNRESET');
    assert.ok(r.ms < 500, `took ${r.ms} ms`);
  });

  it('resets the connection at once when every endpoint refuses', async () => {
    const { port } = await forwarder([await refusingPort(), await refusingPort()], mode);
    const r = await exchange(port, 'anyone?');
    assert.equal(r.error, 'ECONNRESET');
    assert.ok(r.ms < 500, `took ${r.ms} ms`);
  });

  it('resets the client when its endpoint resets mid-stream', async () => {
    const rude = await server((s) => {
      s.write('partial');
      setTimeout(() => s.resetAndDestroy(), 50);
    });
    const { port } = await forwarder([rude], mode);
    const r = await new Promise<{ text: string; error?: string }>((resolve) => {
      const s = connect({ port, host: HOST });
      let text = '';
      s.on('data', (d: Buffer) => (text += d.toString()));
      s.on('error', (err: NodeJS.ErrnoException) => resolve({ text, error: err.code }));
      s.on('end', () => resolve({ text }));
    });
    assert.equal(r.text, 'partial');
    assert.equal(r.error, 'ECONNRESET');
  });

  it('follows endpoint changes for new connections', async () => {
    const { port, picker } = await forwarder([await named('old')], mode);
    assert.equal((await exchange(port, 'x')).text, 'old');
    picker.set([await named('new')]);
    assert.equal((await exchange(port, 'x')).text, 'new');
  });

  it('stops listening and cuts open connections on close', async () => {
    const silent = await server(() => undefined);
    const picker = new EndpointPicker();
    picker.set([silent]);
    const fwd = new TcpForwarder(picker, forwarderOptions(mode));
    const port = await fwd.listen(0, HOST);
    const s = connect({ port, host: HOST });
    const closed = new Promise<void>((resolve) => s.on('close', () => resolve()));
    s.on('error', () => undefined);
    await new Promise<void>((resolve) => s.on('connect', () => resolve()));
    await new Promise((r) => setTimeout(r, 50));
    await fwd.close();
    await closed;
    const refused = await exchange(port, 'x');
    assert.equal(refused.error, 'ECONNREFUSED');
  });

  it('passes on what the endpoint says first, before the client has sent anything', { timeout: 10_000 }, async () => {
    // A greeting protocol (SMTP, MySQL): the endpoint's first bytes must not wait on the client.
    const greeter = await server((s) => {
      s.write('220 hello\n');
      s.on('data', (d: Buffer) => s.end(`got ${d.toString()}`));
    });
    const { port } = await forwarder([greeter], mode);
    const text = await new Promise<string>((resolve, reject) => {
      const c = connect({ port, host: HOST });
      let got = '';
      c.on('data', (d: Buffer) => {
        got += d.toString();
        if (got === '220 hello\n') c.write('x');
      });
      c.on('end', () => resolve(got));
      c.on('error', reject);
    });
    assert.equal(text, '220 hello\ngot x');
  });

  it('carries on past TCP urgent data (MSG_OOB), dropping the urgent byte as a plain read does', { timeout: 15_000 }, async () => {
    // Telnet's Synch, Oracle's breaks: splice stops in front of urgent data, so the pump
    // must step over it or the stream stalls there.
    const collector = await server((s) => {
      const chunks: Buffer[] = [];
      s.on('data', (d: Buffer) => chunks.push(d));
      s.on('end', () => s.end(`got:${Buffer.concat(chunks).toString()}`));
    }, true);
    const { port } = await forwarder([collector], mode);
    // Node cannot send urgent data; Python's socket module can.
    const client = [
      'import socket, sys, time',
      `s = socket.create_connection(("${HOST}", ${port}))`,
      's.sendall(b"before")',
      'time.sleep(0.05)',
      's.send(b"!", socket.MSG_OOB)',
      'time.sleep(0.05)',
      's.sendall(b"after")',
      's.shutdown(socket.SHUT_WR)',
      'data = b""',
      'while True:',
      '    d = s.recv(65536)',
      '    if not d: break',
      '    data += d',
      'sys.stdout.write(data.decode())',
    ].join('\n');
    const { stdout } = await execFileAsync('python3', ['-c', client], { timeout: 10_000 });
    assert.equal(stdout, 'got:beforeafter');
  });

  it('resets the endpoint when its client resets mid-stream', async () => {
    let endpointSaw!: Promise<string>;
    const listening = await server((s) => {
      endpointSaw = new Promise((resolve) => {
        s.on('data', () => undefined);
        s.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
        s.on('close', () => resolve('closed without error'));
      });
      s.write('ready');
    });
    const { port } = await forwarder([listening], mode);
    await new Promise<void>((resolve, reject) => {
      const c = connect({ port, host: HOST });
      c.on('error', reject);
      c.once('data', () => {
        c.resetAndDestroy();
        resolve();
      });
    });
    assert.equal(await endpointSaw, 'ECONNRESET');
  });

  it('pushes back on an endpoint whose client does not read, holding a bounded amount', async () => {
    let flushed = 0; // bytes the endpoint's socket handed to its kernel
    let endpoint: Socket | undefined;
    const flood = await server((s) => {
      endpoint = s;
      s.on('error', () => undefined);
      const chunk = Buffer.alloc(1024 * 1024, 1);
      const write = () => {
        while (flushed < 300 * 1024 * 1024 && !s.destroyed) {
          if (!s.write(chunk, () => (flushed += chunk.length))) return void s.once('drain', write);
        }
      };
      write();
    });
    const { port } = await forwarder([flood], mode);
    const c = connect({ port, host: HOST });
    c.on('error', () => undefined);
    let read = 0;
    c.once('data', (d: Buffer) => {
      read += d.length;
      c.pause(); // and never reads again
    });
    await new Promise((r) => setTimeout(r, 1_500));
    assert.ok(read > 0, 'the first bytes came through');
    // Socket buffers on both hops, the forwarder's own (a pipe, or stream buffers): megabytes, not the stream.
    assert.ok(flushed < 64 * 1024 * 1024, `the endpoint got ${(flushed / 2 ** 20).toFixed(0)} MB out while nobody read`);
    c.destroy();
    endpoint?.destroy();
  });

  it('carries many connections at once, each to its end', async () => {
    const echo = await server((s) => s.pipe(s), true);
    const { port, fwd } = await forwarder([echo], mode);
    const replies = await Promise.all(Array.from({ length: 200 }, (_, i) => exchange(port, `message ${i} `.repeat(100))));
    replies.forEach((r, i) => assert.equal(r.text, `message ${i} `.repeat(100)));
    for (let i = 0; i < 100 && fwd.openSockets > 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(fwd.openSockets, 0, 'every socket closed after its exchange');
    if (mode === 'splice') assert.equal(pump!.open, 0, 'the pump let go of every pair');
  });

  it("sets the congestion control of its own two sockets, not the client's nor the endpoint's", async () => {
    const algorithm = hostDefault === 'reno' ? 'cubic' : 'reno';
    let endpointSide: Socket | undefined;
    const echo = await server((s) => {
      endpointSide = s;
      s.pipe(s);
    });
    const tuned: (Socket | Server)[] = [];
    const told: string[] = [];
    const cc = new CongestionControl(native as Exclude<typeof native, Error>, algorithm, (e) => told.push(e));
    const { port } = await forwarder([echo], mode, { tuneSocket: (s) => (tuned.push(s), cc.apply(s)) });
    const client = connect(port, HOST);
    await once(client, 'connect');
    client.write('ping');
    assert.equal(String((await once(client, 'data'))[0]), 'ping');
    assert.deepEqual(told, []);
    const [listener, ...sockets] = tuned;
    assert.ok(listener instanceof Server && (listener.address() as { port: number }).port === port, 'the listening socket first, so accepted sockets start with the algorithm');
    assert.deepEqual((sockets as Socket[]).map((s) => [s.localPort === port, s.remotePort === echo.port]), [[true, false], [false, true]], 'the accepted socket, then the one to the endpoint');
    for (const s of tuned) assert.equal(native instanceof Error ? '' : native.getCongestion(fdOf(s)), algorithm);
    for (const s of [client, endpointSide!]) assert.equal(native instanceof Error ? '' : native.getCongestion(fdOf(s)), hostDefault);
    client.destroy();
  });

  it('fails to listen on a port in use', async () => {
    const taken = await named('x');
    const fwd = new TcpForwarder(new EndpointPicker(), forwarderOptions(mode));
    await assert.rejects(fwd.listen(taken.port, HOST), /EADDRINUSE/);
    await fwd.close();
  });
});

describe('UdpForwarder (real sockets on loopback)', () => {
  async function udpEcho(name: string): Promise<Upstream> {
    const s = createSocket('udp4');
    s.on('message', (m, r) => s.send(Buffer.concat([Buffer.from(`${name}:`), m]), r.port, r.address));
    await new Promise<void>((resolve) => s.bind(0, HOST, resolve));
    after(() => s.close());
    return { host: HOST, port: s.address().port };
  }

  function ask(port: number, text: string, client = createSocket('udp4')): Promise<string | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(undefined), 500);
      client.once('message', (m) => {
        clearTimeout(timer);
        resolve(m.toString());
      });
      client.send(text, port, HOST);
    });
  }

  it('relays datagrams both ways, a client keeping its endpoint, clients spread round-robin', async () => {
    const picker = new EndpointPicker();
    picker.set([await udpEcho('a'), await udpEcho('b')]);
    const fwd = new UdpForwarder(picker);
    forwarders.push(fwd);
    const port = await fwd.listen(0, HOST);
    const c1 = createSocket('udp4');
    const c2 = createSocket('udp4');
    after(() => (c1.close(), c2.close()));
    const first = await ask(port, 'ping', c1);
    assert.match(first!, /^[ab]:ping$/);
    assert.equal(await ask(port, 'again', c1), `${first![0]}:again`);
    assert.equal(await ask(port, 'ping', c2), `${first![0] === 'a' ? 'b' : 'a'}:ping`);
  });

  it('marks an endpoint that answers "port unreachable" bad and sends the next client elsewhere', async () => {
    // On a loopback address no other test binds: a test file running beside this one may get
    // the freed port number on HOST, and its echo server would answer for the dead endpoint.
    const DEAD_HOST = '127.0.0.2';
    const deadSocket = createSocket('udp4');
    await new Promise<void>((resolve) => deadSocket.bind(0, DEAD_HOST, resolve));
    const dead = { host: DEAD_HOST, port: deadSocket.address().port };
    await new Promise<void>((resolve) => deadSocket.close(() => resolve()));
    const picker = new EndpointPicker();
    picker.set([dead]);
    const fwd = new UdpForwarder(picker);
    forwarders.push(fwd);
    const port = await fwd.listen(0, HOST);
    const client = createSocket('udp4');
    after(() => client.close());
    assert.equal(await ask(port, 'lost', client), undefined);
    assert.equal(picker.isBad(dead, Date.now()), true, 'the ICMP error marked it bad');
    const alive = await udpEcho('alive');
    picker.set([dead, alive]);
    assert.equal(await ask(port, 'again', client), 'alive:again');
  });

  it('drops datagrams when there is no endpoint', async () => {
    const fwd = new UdpForwarder(new EndpointPicker());
    forwarders.push(fwd);
    const port = await fwd.listen(0, HOST);
    const client = createSocket('udp4');
    after(() => client.close());
    assert.equal(await ask(port, 'hello?', client), undefined);
  });
});
