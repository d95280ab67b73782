import { existsSync } from 'node:fs';
import type { IOptions } from 'etcd3';
import { etcdClientOptions, type EtcdClientConfig } from '../src/etcd/etcd-tls.js';
import { nodeCertName, pkiFiles, pkiInit, pkiIssue } from '../src/pki/pki.js';
import { etcdClientUrls, labTls, type EtcdClusterState, type LabTls } from './lab-etcd-urls.js';

export { labEtcdUrl, labTls, type LabTls } from './lab-etcd-urls.js';

/**
 * TLS to the lab's etcd, made per lab in `<state dir>/pki` by the same code as `dokkaa pki`:
 * etcd serves https with client-certificate authentication, each agent has its node's
 * certificate (CN node-nI), the controllers theirs (CN controller), and tests, benchmarks
 * and the CLI the admin's (CN admin). A lab with `tls: false` (the single-host test
 * environment only) keeps plain http.
 */

/**
 * The CA, etcd's server certificate (for the bridge address), the controllers' and the
 * admin's, and one per node in `nodes`: made if missing, else kept. Returns what it made.
 */
export function ensureLabPki(lab: LabTls, nodes: readonly string[]): string[] {
  if (!labTls(lab)) return [];
  const made = pkiInit({ dir: lab.pkiDir, sans: [lab.bridgeAddress] }).made;
  for (const node of nodes) {
    const name = nodeCertName(node);
    const files = pkiFiles(lab.pkiDir, name);
    if (existsSync(files.cert) && existsSync(files.key)) continue;
    pkiIssue(lab.pkiDir, name);
    made.push(name);
  }
  return made;
}

/** Who a lab client is: `admin` (tests, benchmarks, the CLI), `controller`, or a node's name. */
export type LabClient = 'admin' | 'controller' | { node: string };

function certName(who: LabClient): string {
  return typeof who === 'string' ? who : nodeCertName(who.node);
}

/** The lab's etcd as Config names it, with `who`'s certificate. */
export function labClientConfig(lab: LabTls & EtcdClusterState, who: LabClient = 'admin', urls = etcdClientUrls(lab)): EtcdClientConfig {
  const etcd = urls;
  if (!labTls(lab)) return { etcd };
  const files = pkiFiles(lab.pkiDir, certName(who));
  return { etcd, etcdCa: pkiFiles(lab.pkiDir, 'ca').cert, etcdCert: files.cert, etcdKey: files.key };
}

/** etcd3 options for the lab's etcd (every member, or only `urls`) as `who` (default the admin). */
export function labEtcdOptions(lab: LabTls & EtcdClusterState, extra: Omit<IOptions, 'hosts' | 'credentials'> = {}, who: LabClient = 'admin', urls?: string[]): IOptions {
  return etcdClientOptions(labClientConfig(lab, who, urls), new Date(), extra);
}

/** `--etcd URL` and, with TLS, `--etcd-ca/--etcd-cert/--etcd-key` for a lab process run as `who`. */
export function etcdFlags(lab: LabTls & EtcdClusterState, who: LabClient): string[] {
  const c = labClientConfig(lab, who);
  return ['--etcd', c.etcd.join(','), ...(c.etcdCa ? ['--etcd-ca', c.etcdCa, '--etcd-cert', c.etcdCert!, '--etcd-key', c.etcdKey!] : [])];
}

/** The environment a shell or test uses to reach the lab's etcd as the admin. */
export function labEtcdEnv(lab: LabTls & EtcdClusterState): Record<string, string> {
  const c = labClientConfig(lab, 'admin');
  return { DOKKAA_ETCD: c.etcd.join(','), ...(c.etcdCa ? { DOKKAA_ETCD_CA: c.etcdCa, DOKKAA_ETCD_CERT: c.etcdCert!, DOKKAA_ETCD_KEY: c.etcdKey! } : {}) };
}

/** etcd's own TLS flags: https for clients, which must show a certificate from the lab's CA. */
export function etcdServerTlsArgs(lab: LabTls): string[] {
  if (!labTls(lab)) return [];
  const server = pkiFiles(lab.pkiDir, 'etcd-server');
  return ['--cert-file', server.cert, '--key-file', server.key, '--client-cert-auth', '--trusted-ca-file', pkiFiles(lab.pkiDir, 'ca').cert];
}
