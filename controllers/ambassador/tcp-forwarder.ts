import { createServer, Socket, type Server, type SocketConstructorOpts } from 'node:net';
import { upstreamKey, type EndpointPicker, type Upstream } from './endpoint-picker.js';
import type { SplicePump } from './splice-pump.js';

export interface ForwarderOptions {
  /** How long a connection to an endpoint may take before the next endpoint is tried. */
  connectTimeoutMs?: number;
  now?: () => number;
  /** Told about each endpoint that failed to connect (for logging). */
  onEndpointFailed?: (u: Upstream, err: Error) => void;
  /**
   * Bytes a socket buffers before it pushes back (both sockets of a connection, each way).
   * Larger than Node's 16 KiB default: fewer pause/resume turns per 64 KiB read, so more
   * throughput, at the price of up to about 4x this much memory per busy connection.
   */
  highWaterMark?: number;
  /**
   * Moves the bytes of established connections in the kernel (splice) instead of through
   * Node's streams: about twice the throughput. Without it, the forwarder copies.
   */
  pump?: SplicePump;
  /** Applied to the listening socket, and to both sockets of a connection once it is established (the congestion control). */
  tuneSocket?: (s: Socket | Server) => void;
}

const DEFAULT_HIGH_WATER_MARK = 256 * 1024;
/** Size of one read from an endpoint (as libuv's own reads). */
const READ_SIZE = 64 * 1024;
/** Read buffers kept for reuse across connections, at most (4 MiB). */
const POOL_MAX = 64;

/**
 * Read buffers for the endpoint-to-client direction, recycled once their bytes are written.
 * Node otherwise allocates a fresh buffer for every read: the kernel then faults in new
 * pages as it copies into it, and the garbage collector works through the stream. Measured
 * in the agent, those were a third of the proxy's time; recycling removes both.
 */
class ReadBuffers {
  private readonly free: Buffer[] = [];

  take(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafe(READ_SIZE);
  }

  give(b: Buffer): void {
    if (this.free.length < POOL_MAX) this.free.push(b);
  }
}

/**
 * One ambassador port, TCP: accepts connections on a port and splices each one to an
 * endpoint the picker chooses. An endpoint that refuses or does not connect within the
 * timeout is marked bad and the next one is tried; with none left the client's connection
 * is reset at once, so a client never hangs on a service with no endpoints. Data flows
 * through `pipe` (backpressure both ways, nothing buffered beyond the streams' high-water
 * marks), and half-close is passed on: a client's FIN ends the upstream's writable side
 * while the answer keeps flowing back.
 */
export class TcpForwarder {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly connectTimeoutMs: number;
  private readonly now: () => number;
  private readonly highWaterMark: number;
  private readonly buffers = new ReadBuffers();
  /** Pairs the pump moves now, by id: taken back from it before `close` destroys them. */
  private readonly pumped = new Set<number>();

  constructor(
    private readonly picker: EndpointPicker,
    private readonly opts: ForwarderOptions = {},
  ) {
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 1_000;
    this.now = opts.now ?? Date.now;
    this.highWaterMark = opts.highWaterMark ?? DEFAULT_HIGH_WATER_MARK;
    this.server = createServer({ allowHalfOpen: true, pauseOnConnect: true, highWaterMark: this.highWaterMark }, (client) => this.accept(client));
  }

  /** Listens on `host:port` (port 0: any); resolves with the port, rejects e.g. on EADDRINUSE. */
  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.server.once('error', onError);
      this.server.listen({ port, host, exclusive: true }, () => {
        this.server.off('error', onError);
        // Accepted sockets inherit the listener's congestion control from their first
        // segment: switched later, a socket keeps the pacing BBR's start turned on.
        this.opts.tuneSocket?.(this.server);
        const address = this.server.address();
        resolve(typeof address === 'object' && address ? address.port : port);
      });
    });
  }

  /** Connections open now (client and upstream sockets). */
  get openSockets(): number {
    return this.sockets.size;
  }

  /** Stops listening and cuts every connection still open. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    // The pump must let go of a pair's sockets before they close (their descriptors are reused).
    for (const id of this.pumped) this.opts.pump?.cancel(id);
    this.pumped.clear();
    for (const s of this.sockets) s.destroy();
    if (this.server.listening) await closed;
  }

  private track(s: Socket): void {
    this.sockets.add(s);
    s.once('close', () => this.sockets.delete(s));
    // Errors end in 'close'; the splice decides what the other side sees.
    s.on('error', () => undefined);
  }

  private accept(client: Socket): void {
    this.track(client);
    const tried = new Set<string>();
    let upstream: Socket | undefined;
    let spliced = false;
    // A client that goes away while we are still connecting takes the attempt with it.
    client.once('close', () => {
      if (!spliced) upstream?.destroy();
    });

    const attempt = (): void => {
      if (client.destroyed) return;
      const target = this.picker.pick(this.now(), tried);
      if (!target) {
        // Nothing to forward to: refuse now (RST) rather than leave the client waiting.
        client.resetAndDestroy();
        return;
      }
      tried.add(upstreamKey(target));
      const pump = this.opts.pump;
      // `highWaterMark` is a Duplex option the Socket constructor passes on (not in its typings).
      const options = pump ? { allowHalfOpen: true } : ({ allowHalfOpen: true, highWaterMark: this.highWaterMark, onread: this.toClient(client, (): Socket => socket) } as SocketConstructorOpts);
      const socket: Socket = new Socket(options);
      // For the pump, Node must not read what the endpoint sends first (a greeting): paused
      // before it connects, the socket never starts reading.
      if (pump) socket.pause();
      socket.connect({ host: target.host, port: target.port });
      upstream = socket;
      this.track(socket);
      const timer = setTimeout(() => socket.destroy(new Error(`connect timeout after ${this.connectTimeoutMs} ms`)), this.connectTimeoutMs);
      timer.unref();
      const failed = (err: Error) => {
        clearTimeout(timer);
        this.picker.markBad(target, this.now());
        this.opts.onEndpointFailed?.(target, err);
        socket.destroy();
        attempt();
      };
      socket.once('error', failed);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.off('error', failed);
        if (client.destroyed) {
          // The client left while we connected (its 'close' is still on the way).
          socket.destroy();
          return;
        }
        spliced = true;
        this.opts.tuneSocket?.(client);
        this.opts.tuneSocket?.(socket);
        if (pump) this.handOver(pump, client, socket);
        else this.splice(client, socket);
      });
    };
    attempt();
  }

  /**
   * Gives an established connection to the pump. Both sockets are paused and have written
   * nothing, so no byte is in Node's hands. When the pump reports the end, the sockets
   * close: cleanly after both FINs, or reset both ways after an error (the client learns the
   * truth, as in `splice`).
   */
  private handOver(pump: SplicePump, client: Socket, upstream: Socket): void {
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    let id: number;
    try {
      id = pump.add(client, upstream, (end) => {
        this.pumped.delete(id);
        for (const s of [client, upstream]) {
          if (s.destroyed) continue;
          if (end.error) s.resetAndDestroy();
          else s.destroy();
        }
      });
    } catch {
      // Out of descriptors for the pipes, say: this connection is copied instead.
      this.splice(client, upstream);
      return;
    }
    this.pumped.add(id);
  }

  private splice(client: Socket, upstream: Socket): void {
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    // A reset or error on one side resets the other: the client learns the truth.
    upstream.once('close', (hadError) => {
      if (hadError && !client.destroyed) client.resetAndDestroy();
    });
    // A clean close needs no help: each socket closes by itself once both its directions end.
    client.once('close', (hadError) => {
      if (hadError && !upstream.destroyed) upstream.resetAndDestroy();
    });
    client.pipe(upstream);
    if (upstream.isPaused()) {
      // Made for the pump (no recycled buffers): a plain pipe back.
      upstream.pipe(client);
      return;
    }
    // The other way, reads land in recycled buffers (`toClient`); the end is passed on here.
    upstream.once('end', () => client.end());
  }

  /**
   * Reads from the endpoint into recycled buffers and writes them to the client: each
   * buffer goes back to the pool once the client's socket has taken its bytes (the write's
   * callback). Backpressure as `pipe`: a full client pauses the endpoint until it drains.
   */
  private toClient(client: Socket, upstream: () => Socket): { buffer: () => Buffer; callback: (n: number, b: Uint8Array) => boolean } {
    return {
      buffer: () => this.buffers.take(),
      callback: (n, b) => {
        const buf = b as Buffer;
        if (client.destroyed) {
          this.buffers.give(buf);
          return false;
        }
        const more = client.write(buf.subarray(0, n), () => this.buffers.give(buf));
        if (!more) client.once('drain', () => upstream().resume());
        return more;
      },
    };
  }
}
