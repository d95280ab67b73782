import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { Etcd3, type IOptions } from 'etcd3';
import { Keys } from '../../../api/keys.js';
import { decodeRecord, StatusRecord } from '../../../api/records.js';
import type { Config } from '../../../src/config.js';
import { etcdClientOptions } from '../../../src/etcd/etcd-tls.js';
import { demuxFrames } from '../../../src/docker/log-frames.js';

/**
 * The real etcd and Docker Engine the suite runs against: its own, started for the run by
 * scripts/test.sh (lab/test-env.ts). Never the machine's defaults: without them set,
 * the e2e tests fail at once instead of touching a `dokkaa up` running beside them.
 */
function fromEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the suite with \`npm test\`, which starts the suite's own etcd and Docker Engine`);
  return value;
}
export const ETCD = fromEnv('DOKKAA_TEST_ETCD');

/** etcd3 options for the suite's etcd (plain http: see lab/test-env.ts), through the function every client uses. */
export function etcdOptions(url: string = ETCD, extra: Omit<IOptions, 'hosts' | 'credentials'> = {}): IOptions {
  return etcdClientOptions({ etcd: [url] }, new Date(), extra);
}
export const DOCKER = fromEnv('DOKKAA_TEST_DOCKER').replace(/^unix:\/\//, '');
export const IMAGE = 'dokkaa/busybox:latest';
export const NGINX_PAGE = 'Welcome to Dokkaa nginx';

/** A short random suffix: each test gets its own key prefix, node name and app names. */
export function uid(): string {
  return randomBytes(3).toString('hex');
}

/**
 * One test's slice of the real world: an etcd key prefix, a node name (container labels
 * carry it) and clients to look at both sides directly, not through Dokkaa.
 */
export class World {
  readonly id = uid();
  readonly prefix = `/t-${this.id}`;
  readonly node = `node-${this.id}`;
  readonly keys = new Keys(this.prefix);
  readonly etcd: Etcd3;
  readonly docker = new Docker({ socketPath: DOCKER });

  constructor(readonly etcdUrl = ETCD) {
    this.etcd = new Etcd3(etcdOptions(etcdUrl, { dialTimeout: 3000 }));
  }

  config(overrides: Partial<Config> = {}): Config {
    return {
      etcd: [this.etcdUrl],
      prefix: this.prefix,
      docker: `unix://${DOCKER}`,
      node: this.node,
      address: '',
      labels: {},
      leaseTtlSeconds: 5,
      resyncSeconds: 10,
      logLevel: process.env.DOKKAA_TEST_LOG_LEVEL ?? 'error',
      fence: true,
      // Port 53 on the bridge gateway is one per machine: only tests of the DNS server take it.
      dnsPort: 0,
      // Likewise 80 and 443 for the web router: only its own tests turn it on.
      routerHttpPort: 0,
      routerHttpsPort: 0,
      // Agents' sealing keys (one per node name) off the machine's /var/lib.
      stateDir: join(tmpdir(), 'dokkaa-e2e-state'),
      ...overrides,
    };
  }

  async putManifest(app: string, name: string, manifest: unknown): Promise<void> {
    await this.etcd.put(this.keys.manifest(app, name)).value(typeof manifest === 'string' ? manifest : JSON.stringify(manifest));
  }

  async deleteManifest(app: string, name: string): Promise<void> {
    await this.etcd.delete().key(this.keys.manifest(app, name));
  }

  async status(app: string, name: string): Promise<StatusRecord | undefined> {
    return decodeRecord(StatusRecord, await this.etcd.get(this.keys.status(app, name)).string());
  }

  async keysUnder(prefix: string): Promise<string[]> {
    return Object.keys(await this.etcd.getAll().prefix(prefix).strings());
  }

  /** The values of one manifest's replica records, from every host's `node-replicas/<node>/`. */
  async replicaValues(app: string, name: string): Promise<string[]> {
    return this.valuesWhere(this.keys.replicas, (k) => this.keys.parseReplica(k), (at) => at.app === app && at.name === name);
  }

  /** The keys of one service's endpoints, from every host's `node-endpoints/<node>/`. */
  async endpointKeys(app: string, service: string): Promise<string[]> {
    const all = await this.etcd.getAll().prefix(this.keys.endpoints).strings();
    return Object.keys(all).filter((k) => { const at = this.keys.parseEndpoint(k); return at?.app === app && at.service === service; });
  }

  /** The values of one service's endpoints. */
  async endpointValues(app: string, service: string): Promise<string[]> {
    return this.valuesWhere(this.keys.endpoints, (k) => this.keys.parseEndpoint(k), (at) => at.app === app && at.service === service);
  }

  /** The values of one manifest's events, whoever wrote them. */
  async eventValues(app: string, name: string): Promise<string[]> {
    return this.valuesWhere(this.keys.events, (k) => this.keys.parseEvent(k), (at) => at.app === app && at.name === name);
  }

  private async valuesWhere<K>(section: string, parse: (key: string) => K | undefined, match: (at: K) => boolean): Promise<string[]> {
    const all = await this.etcd.getAll().prefix(section).strings();
    return Object.entries(all).filter(([k]) => { const at = parse(k); return at !== undefined && match(at); }).map(([, v]) => v);
  }

  /** Containers of this test's node, straight from Docker. */
  async containers(app?: string, name?: string): Promise<Docker.ContainerInfo[]> {
    const label = [`dokkaa.node=${this.node}`, ...(app ? [`dokkaa.app=${app}`] : []), ...(name ? [`dokkaa.name=${name}`] : [])];
    return this.docker.listContainers({ all: true, filters: { label } });
  }

  async running(app: string, name: string): Promise<Docker.ContainerInfo[]> {
    return (await this.containers(app, name)).filter((c) => c.State === 'running');
  }

  async logs(containerId: string): Promise<string> {
    const buf = (await this.docker.getContainer(containerId).logs({ stdout: true, stderr: true, follow: false })) as unknown as Buffer;
    return demuxFrames(buf).toString();
  }

  async env(containerId: string): Promise<Record<string, string>> {
    const info = await this.docker.getContainer(containerId).inspect();
    return Object.fromEntries((info.Config.Env ?? []).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
  }

  /** Removes every container of this node and every key under the prefix. */
  async cleanup(): Promise<void> {
    for (const c of await this.containers().catch(() => [])) {
      await this.docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
    }
    await this.etcd.delete().prefix(this.keys.all).catch(() => undefined);
    this.etcd.close();
  }
}

/** Polls `probe` until it returns a truthy value; fails with the last value seen. */
export async function waitFor<T>(what: string, probe: () => Promise<T>, timeoutMs = 30_000, everyMs = 100): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let lastErr: unknown;
  while (Date.now() < deadline) {
    try {
      last = await probe();
      if (last) return last as NonNullable<T>;
    } catch (err) {
      lastErr = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(last)}${lastErr ? `; error: ${(lastErr as Error).message}` : ''}`);
}

export function sleepMs(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The local variants of the article's manifests (busybox httpd and wget). */
export const nginxManifest = (extra: Record<string, unknown> = {}) => ({
  image: 'dokkaa/busybox',
  command: ['httpd', '-f', '-p', '80', '-h', '/www'],
  services: { nginx: 80 },
  ...extra,
});

export const crawlerManifest = (extra: Record<string, unknown> = {}) => ({
  image: 'dokkaa/busybox',
  command: ['sh', '-c', 'while true; do wget -qO- http://$SERVICE_NGINX_ADDR:$SERVICE_NGINX_PORT/; sleep 1; done'],
  links: ['nginx'],
  ...extra,
});

export const sleeperManifest = (extra: Record<string, unknown> = {}) => ({
  image: 'dokkaa/busybox',
  command: ['sleep', '3600'],
  ...extra,
});
