import { readFileSync } from 'node:fs';
import type { Server, Socket } from 'node:net';
import { errnoName, fdOf, type NativePump } from './splice-pump.js';

/**
 * The TCP congestion control of the ambassador's own sockets (both hops of a forwarded
 * connection): on the listening socket, whose accepted sockets inherit it before their
 * first segment, and on the socket to the endpoint once it connects (Node creates it only
 * then: it keeps the pacing BBR's start turned on, see docs/links.md); `system` leaves the
 * host's default.
 *
 * Why not the default: hosts often default to BBR, which paces every connection at its own
 * estimate of the path's bandwidth. Two paced connections in series (the endpoint's or
 * client's, and the ambassador's) each cap the other's estimate and leave the CPUs idle
 * between paced bursts: measured on loopback, 1.0 GB/s through the ambassador with BBR on
 * its sockets, 1.8 GB/s with CUBIC, the direct connection (BBR) 2.9 GB/s. The ambassador's
 * hops stay inside the cluster (one of them on the host itself), where pacing buys nothing
 * and CUBIC is Linux's own default.
 */
export class CongestionControl {
  private refused = false;

  constructor(
    private readonly native: Pick<NativePump, 'setCongestion'>,
    readonly algorithm: string,
    /** Told once, on the first socket the kernel refuses the algorithm for. */
    private readonly onRefused: (error: string) => void,
  ) {}

  /**
   * Sets the algorithm on a listening or connected socket; on failure the socket keeps the host's
   * default, and so do all later ones: the answer will not change, and for a name the
   * kernel lacks each try would run modprobe (as root) on Node's thread.
   */
  readonly apply = (s: Socket | Server): void => {
    if (this.refused) return;
    let error: string | undefined;
    try {
      const errno = this.native.setCongestion(fdOf(s), this.algorithm);
      if (errno !== 0) error = errnoName(errno);
    } catch (err) {
      error = (err as Error).message;
    }
    if (error === undefined) return;
    this.refused = true;
    this.onRefused(error);
  };
}

/** The host's default congestion control (this network namespace's): what sockets get unless set. */
export function hostCongestion(): string {
  return readFileSync('/proc/sys/net/ipv4/tcp_congestion_control', 'utf8').trim();
}
