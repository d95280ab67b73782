import type { Clock } from '../clock.js';
import type { Lease } from './kv-store.js';

/**
 * When a lease's keepalives were last acknowledged, for holders that act on silence (an
 * agent fences itself, a leader steps down, at 2/3 of the TTL), and a prompt retry when they
 * stop coming.
 *
 * Why the retry: the client sends a keepalive every TTL/3 on one stream to one etcd member.
 * When that member dies (or the cluster elects a new leader) the stream fails and comes back
 * on another member, but the next acknowledged keepalive can then be a whole period after the
 * cluster is usable again, and 2/3 of the TTL is only two periods. Seen in the lab: with a
 * 4 s TTL, the leading member of three SIGKILLed, the new leader elected ~1 s later, and an
 * agent whose stream was on the dead member fenced itself (its lease alive: a new leader
 * renews every lease) because no ack came for 2.75 s. So once an ack is overdue, `tick`
 * sends keepalives of its own on fresh streams, one at a time, until one is acknowledged.
 * Each is bounded by a tenth of the TTL: one sent while the cluster has no leader yet, or on
 * a channel to the dead member, waits out its bound, and with a third of the TTL (as before)
 * the first probe alone outlasted the 2/3 mark (seen in the lab: TTL 10 s, the leader killed
 * 3 s after an agent's last ack, that agent fenced 3.7 s later with every member but one up).
 */
export class KeepaliveTracker {
  private lastAck: number;
  private probing = false;

  constructor(private readonly lease: Lease, private readonly clock: Clock, private readonly ttlMs: number) {
    this.lastAck = clock.now();
    lease.onKeepalive(() => this.acked());
  }

  /** Milliseconds since etcd last acknowledged a keepalive (or since the lease was granted). */
  sinceAck(): number {
    return this.clock.now() - this.lastAck;
  }

  /**
   * Call periodically (more often than TTL/3). Non-blocking: if the regular keepalive is
   * overdue (none acknowledged for TTL/3 plus a tenth of the TTL of slack) and no probe is in
   * flight, starts one, bounded by TTL/10; its failure is only the absence of an ack.
   */
  tick(): void {
    if (this.probing || this.sinceAck() <= this.ttlMs / 3 + this.ttlMs / 10) return;
    this.probing = true;
    this.lease
      .keepaliveOnce(Math.max(100, this.ttlMs / 10))
      .then(() => this.acked(), () => undefined)
      .finally(() => {
        this.probing = false;
      });
  }

  /**
   * One keepalive now, bounded by `timeoutMs`: whether etcd acknowledged it (then it counts
   * as the last ack). For a holder about to act on a silence it may have caused itself.
   */
  async probe(timeoutMs: number): Promise<boolean> {
    try {
      await this.lease.keepaliveOnce(Math.max(100, timeoutMs));
      this.acked();
      return true;
    } catch {
      return false;
    }
  }

  private acked(): void {
    this.lastAck = this.clock.now();
  }
}
