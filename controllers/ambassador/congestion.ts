import type { Socket } from 'node:net';
import { errnoName, fdOf, type NativePump } from './splice-pump.js';

/**
 * The TCP congestion control of the ambassador's own sockets (both hops of a forwarded
 * connection), set when each connects; `system` leaves the host's default.
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
  private warned = false;

  constructor(
    private readonly native: Pick<NativePump, 'setCongestion'>,
    readonly algorithm: string,
    /** Told once, on the first socket the kernel refuses the algorithm for. */
    private readonly onRefused: (error: string) => void,
  ) {}

  /** Sets the algorithm on a connected socket; on failure the socket keeps the host's default. */
  readonly apply = (s: Socket): void => {
    const errno = this.native.setCongestion(fdOf(s), this.algorithm);
    if (errno === 0 || this.warned) return;
    this.warned = true;
    this.onRefused(errnoName(errno));
  };
}

