import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server, type Socket } from 'node:net';
import dnsPacket from 'dns-packet';
import { answerQuery, appOfQuery, RCODE, reply, udpLimit, type DnsDirectory } from './dns-answers.js';

export interface DnsResponderOptions {
  /** Resolvers (`ip` or `ip:port`) for names outside dokkaa.local; none: REFUSED. */
  upstreams: string[];
  /** How long to wait for one upstream before trying the next. */
  upstreamTimeoutMs?: number;
  onError?: (what: string, err: unknown) => void;
}

/**
 * A DNS server on UDP and TCP (same port): names in dokkaa.local are answered from the
 * directory; others are forwarded as they are to the upstream resolvers, so containers
 * that use it as their only resolver still resolve the outside world. Wire format by
 * dns-packet; TCP framing is the 2-byte length prefix of RFC 1035 4.2.2.
 */
export class DnsResponder {
  private udp: UdpSocket | undefined;
  private readonly tcp: Server;
  private readonly tcpClients = new Set<Socket>();
  private readonly inflight = new Set<UdpSocket>();
  private closed = false;

  constructor(
    private readonly dir: DnsDirectory,
    private readonly opts: DnsResponderOptions,
  ) {
    this.tcp = createServer((s) => this.onTcp(s));
  }

  /**
   * Binds UDP and TCP on `address:port`; rejects (and binds nothing) if either fails. With
   * port 0, UDP picks a port and TCP takes the same, trying again if TCP has it in use.
   */
  async listen(address: string, port: number): Promise<number> {
    for (let attempt = 0; ; attempt++) {
      const udp = this.newUdpSocket();
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind({ address, port, exclusive: true }, () => {
          udp.off('error', reject);
          resolve();
        });
      }).catch((err: unknown) => {
        udp.close();
        throw err;
      });
      const bound = udp.address().port;
      try {
        await new Promise<void>((resolve, reject) => {
          this.tcp.once('error', reject);
          this.tcp.listen({ host: address, port: bound, exclusive: true }, () => {
            this.tcp.off('error', reject);
            resolve();
          });
        });
        this.udp = udp;
        return bound;
      } catch (err) {
        udp.close();
        if (port !== 0 || attempt >= 10 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
      }
    }
  }

  private newUdpSocket(): UdpSocket {
    const udp = createSocket({ type: 'udp4' });
    udp.on('message', (msg, rinfo) => void this.onUdp(udp, msg, rinfo));
    udp.on('error', (err) => this.opts.onError?.('udp socket', err));
    return udp;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const s of this.inflight) s.close();
    for (const c of this.tcpClients) c.destroy();
    await Promise.all([
      new Promise<void>((resolve) => (this.tcp.listening ? this.tcp.close(() => resolve()) : resolve())),
      new Promise<void>((resolve) => (this.udp ? this.udp.close(() => resolve()) : resolve())),
    ]);
  }

  /** The reply to one query message; undefined to stay silent (not a query). */
  async respond(msg: Buffer, maxSize: (q: dnsPacket.DecodedPacket) => number): Promise<Buffer | undefined> {
    let query: dnsPacket.DecodedPacket;
    try {
      query = dnsPacket.decode(msg);
    } catch {
      return undefined; // not DNS: nothing sensible to answer
    }
    if (query.type !== 'query') return undefined;
    if (((query.flags ?? 0) >> 11) & 0xf) return reply(query, RCODE.NOTIMP, [], [], []); // opcode != QUERY
    const app = appOfQuery(query);
    if (app !== undefined) await this.dir.prepare?.(app);
    const local = answerQuery(query, this.dir, maxSize(query));
    if (local) return local;
    if (this.opts.upstreams.length === 0) return reply(query, RCODE.REFUSED, [], [], []);
    return (await this.forward(msg)) ?? reply(query, RCODE.SERVFAIL, [], [], []);
  }

  private async onUdp(udp: UdpSocket, msg: Buffer, rinfo: RemoteInfo): Promise<void> {
    const out = await this.respond(msg, udpLimit);
    if (out && !this.closed) udp.send(out, rinfo.port, rinfo.address);
  }

  private onTcp(socket: Socket): void {
    this.tcpClients.add(socket);
    socket.on('close', () => this.tcpClients.delete(socket));
    socket.on('error', () => undefined);
    socket.setTimeout(10_000, () => socket.destroy());
    let buffered = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
        const msg = buffered.subarray(2, 2 + buffered.readUInt16BE(0));
        buffered = buffered.subarray(2 + msg.length);
        void this.respond(msg, () => 65_535).then((out) => {
          if (!out || socket.destroyed) return;
          const len = Buffer.alloc(2);
          len.writeUInt16BE(out.length);
          socket.write(Buffer.concat([len, out]));
        });
      }
    });
  }

  /** Sends the query as it is to each upstream in turn; the first answer wins. */
  private async forward(msg: Buffer): Promise<Buffer | undefined> {
    for (const upstream of this.opts.upstreams) {
      const [host, port = '53'] = upstream.split(':');
      const answer = await new Promise<Buffer | undefined>((resolve) => {
        const s = createSocket({ type: 'udp4' });
        this.inflight.add(s);
        let finished = false;
        const done = (value: Buffer | undefined) => {
          if (finished) return;
          finished = true;
          clearTimeout(timer);
          this.inflight.delete(s);
          try {
            s.close();
          } catch {
            // already closed by close()
          }
          resolve(value);
        };
        const timer = setTimeout(() => done(undefined), this.opts.upstreamTimeoutMs ?? 2_000);
        s.on('message', (m) => done(m));
        s.on('error', (err) => {
          this.opts.onError?.('upstream', err);
          done(undefined);
        });
        s.on('close', () => done(undefined));
        s.send(msg, Number(port), host!);
      });
      if (answer || this.closed) return answer;
    }
    return undefined;
  }
}

/** `nameserver` lines of a resolv.conf, without the ones in `exclude` (our own address). */
export function resolvConfServers(text: string, exclude: string[] = []): string[] {
  return text
    .split('\n')
    .map((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.[1])
    .filter((s): s is string => !!s && !s.includes(':') && !exclude.includes(s));
}
