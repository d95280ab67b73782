import { mkdirSync } from 'node:fs';
import { etcdReachable } from '../src/etcd/local-etcd.js';
import { etcdServerTlsArgs, labEtcdOptions, labEtcdUrl, type LabTls } from './lab-pki.js';
import { pidGone, spawnDetached, waitFor, type ProcessRecord } from './processes.js';
import { tail } from './lab-engine.js';

/**
 * The lab's etcd: a single member in the root namespace listening on the bridge address,
 * which every host namespace reaches through its default route. Its data lives in the
 * state dir, so a restarted etcd (e.g. after `up` repairs it) keeps the cluster's keys.
 * Clients reach it over TLS and must show a certificate from the lab's CA (lab-pki.ts).
 */

export function etcdArgv(lab: LabTls): string[] {
  return [
    'etcd',
    '--name', lab.etcdName,
    '--data-dir', lab.etcdDataDir,
    '--listen-client-urls', labEtcdUrl(lab),
    '--advertise-client-urls', labEtcdUrl(lab),
    '--listen-peer-urls', lab.etcdPeerUrl,
    // With these two the single member finds itself on first start; ignored on restarts.
    '--initial-advertise-peer-urls', lab.etcdPeerUrl,
    '--initial-cluster', `${lab.etcdName}=${lab.etcdPeerUrl}`,
    ...etcdServerTlsArgs(lab),
  ];
}

/** Starts etcd detached and waits until it serves; fails with its log tail otherwise. */
export async function startEtcd(lab: LabTls, timeoutMs = 20_000): Promise<ProcessRecord> {
  mkdirSync(lab.etcdDataDir, { recursive: true, mode: 0o700 }); // etcd warns about looser modes
  const argv = etcdArgv(lab);
  const pid = await spawnDetached(argv[0]!, argv.slice(1), { log: lab.etcdLog });
  const rec = { pid, argv };
  const ready = await waitFor(async () => pidGone(pid) || (await etcdReachable(labEtcdOptions(lab), 500)), timeoutMs, 200);
  if (!ready || pidGone(pid)) throw new Error(`etcd ${pidGone(pid) ? 'exited' : 'not ready'}; last lines of ${lab.etcdLog}:\n${tail(lab.etcdLog, 15)}`);
  return rec;
}
