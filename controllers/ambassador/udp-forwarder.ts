import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import type { EndpointPicker, Upstream } from './endpoint-picker.js';
import type { ForwarderOptions } from './tcp-forwarder.js';

interface Session {
  upstream: Socket;
  target: Upstream;
  timer: NodeJS.Timeout;
  /** Datagrams that arrived before the upstream socket was connected (a few at most). */
  pending: Buffer[] | undefined;
}

const MAX_PENDING = 64;

/**
 * One ambassador port, UDP: each client address gets a session, a socket connected to one
 * endpoint (round-robin across clients), and datagrams are relayed both ways. A session ends
 * after `idleMs` without traffic, or when its endpoint answers with ICMP port unreachable
 * (the endpoint is then marked bad; the client's next datagram opens a session elsewhere).
 * With no endpoint, datagrams are dropped: UDP has no way to refuse.
 */
export class UdpForwarder {
  private readonly socket: Socket;
  private readonly sessions = new Map<string, Session>();
  private readonly now: () => number;
  private readonly idleMs: number;

  constructor(
    private readonly picker: EndpointPicker,
    private readonly opts: ForwarderOptions & { idleMs?: number } = {},
  ) {
    this.now = opts.now ?? Date.now;
    this.idleMs = opts.idleMs ?? 60_000;
    this.socket = createSocket({ type: 'udp4' });
    this.socket.on('message', (msg, rinfo) => this.relay(msg, rinfo));
    this.socket.on('error', () => undefined);
  }

  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.socket.once('error', onError);
      this.socket.bind({ port, address: host, exclusive: true }, () => {
        this.socket.off('error', onError);
        resolve(this.socket.address().port);
      });
    });
  }

  async close(): Promise<void> {
    for (const key of [...this.sessions.keys()]) this.end(key);
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }

  private relay(msg: Buffer, rinfo: RemoteInfo): void {
    const key = `${rinfo.address}:${rinfo.port}`;
    let session = this.sessions.get(key);
    if (!session) {
      const target = this.picker.pick(this.now());
      if (!target) return;
      session = this.open(key, target, rinfo);
    }
    session.timer.refresh();
    if (session.pending) {
      if (session.pending.length < MAX_PENDING) session.pending.push(msg);
    } else {
      session.upstream.send(msg);
    }
  }

  private open(key: string, target: Upstream, client: RemoteInfo): Session {
    const upstream = createSocket({ type: 'udp4' });
    const timer = setTimeout(() => this.end(key), this.idleMs);
    timer.unref();
    const session: Session = { upstream, target, timer, pending: [] };
    this.sessions.set(key, session);
    // Connected, so that the kernel reports an endpoint's ICMP port unreachable to us.
    upstream.connect(target.port, target.host, () => {
      if (this.sessions.get(key) !== session) return;
      const queued = session.pending ?? [];
      session.pending = undefined;
      for (const m of queued) upstream.send(m);
    });
    upstream.on('message', (reply) => {
      session.timer.refresh();
      this.socket.send(reply, client.port, client.address);
    });
    // Sends to a closed port come back as ECONNREFUSED on the next operation of the socket.
    upstream.on('error', (err) => {
      this.picker.markBad(target, this.now());
      this.opts.onEndpointFailed?.(target, err);
      this.end(key);
    });
    return session;
  }

  private end(key: string): void {
    const session = this.sessions.get(key);
    if (!session) return;
    this.sessions.delete(key);
    clearTimeout(session.timer);
    session.upstream.close();
  }
}
