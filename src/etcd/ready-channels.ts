import type { Etcd3 } from 'etcd3';

/** grpc-js `connectivityState.READY` (gRPC's connectivity states, numbered alike in every version). */
export const CHANNEL_READY = 2;

/** The part of etcd3's ConnectionPool `Host` (connection-pool.js) this reaches into. */
export interface PoolHost {
  cachedServices: Record<string, { getChannel(): { getConnectivityState(tryToConnect: boolean): number } } | undefined>;
  resetAllServices(): void;
  close(): void;
}

/**
 * Keeps a member's gRPC clients while their connection is up.
 *
 * etcd3 closes every client it holds for a member (KV, Lease, Watch) each time one call or
 * stream to that member fails with a "recoverable" error: a deadline exceeded, a call
 * cancelled, etcd too busy. The next calls build new channels (a resolver and a balancer
 * each), and calls still waiting on a closed channel fail with "Channel closed before call
 * started", a recoverable error that closes the clients again. Under load that fed on
 * itself: at 1,000 hollow hosts 8% of the agents' CPU went into building channels and the
 * failed calls were retried by every work queue (bench/results/scale.md).
 *
 * A reset buys nothing while the connection is READY: the call failed, not the connection,
 * and grpc-js reconnects a broken connection by itself. (Nor does a reset cure a silently
 * dead connection: grpc-js's subchannel pool hands the new clients the same one.) So a reset
 * goes ahead only when no client of the member has a ready connection, and always when the
 * client is closed.
 *
 * Reaches into etcd3 internals (`pool.hosts`), checked here: a changed etcd3 fails loudly at
 * construction (and in test/unit/ready-channels.test.ts), not silently under load.
 */
export function keepReadyChannels(client: Etcd3): void {
  const hosts = (client as unknown as { pool?: { hosts?: unknown } }).pool?.hosts;
  if (!Array.isArray(hosts) || !hosts.every(isPoolHost)) {
    throw new Error('etcd3 internals changed: ConnectionPool.hosts with resetAllServices() not found (src/etcd/ready-channels.ts)');
  }
  for (const host of hosts) guardResets(host);
}

/** Makes `host.resetAllServices` a no-op while one of its clients' connections is READY; `close` still closes. */
export function guardResets(host: PoolHost): void {
  const reset = host.resetAllServices.bind(host);
  const close = host.close.bind(host);
  let closing = false;
  host.resetAllServices = () => {
    if (closing || !anyReady(host)) reset();
  };
  host.close = () => {
    closing = true;
    close();
  };
}

function anyReady(host: PoolHost): boolean {
  return Object.values(host.cachedServices).some((s) => s !== undefined && s.getChannel().getConnectivityState(false) === CHANNEL_READY);
}

function isPoolHost(h: unknown): h is PoolHost {
  const o = h as Partial<PoolHost> | null;
  return typeof o === 'object' && o !== null && typeof o.resetAllServices === 'function' && typeof o.close === 'function' && typeof o.cachedServices === 'object';
}
