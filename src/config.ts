import { hostname } from 'node:os';
import { parseMemory } from '../api/quantities.js';
import type { Amounts } from '../api/records.js';

/** Runtime settings, from flags first, then `DOKKAA_*` env vars, then defaults (see SETTINGS). */
export interface Config {
  etcd: string[];
  /**
   * TLS to etcd (`--etcd-ca`, `--etcd-cert`, `--etcd-key`): the CA that issued etcd's server
   * certificate, and this client's certificate and key (its CN is its etcd user). All three
   * or none; with them every endpoint is https://. See src/etcd/etcd-tls.ts.
   */
  etcdCa?: string;
  etcdCert?: string;
  etcdKey?: string;
  prefix: string;
  docker: string;
  node: string;
  address: string;
  labels: Record<string, string>;
  leaseTtlSeconds: number;
  resyncSeconds: number;
  logLevel: string;
  /** Agent: remove this host's containers when its lease is about to expire (see docs/design.md). */
  fence: boolean;
  /** Link injector: the range link ports are allocated from (`--link-ports 20000-29999`). */
  linkPorts?: PortRange;
  /** Service registrar: where SkyDNS records go (`--skydns-prefix`, default `/skydns`). */
  skydnsPrefix?: string;
  /** Agent: its DNS server's port on the Docker bridge gateway (`--dns-port`, default 53; 0: none). */
  dnsPort?: number;
  /** Agent: where its DNS server forwards names outside dokkaa.local (`--dns-upstream`; default the host's /etc/resolv.conf). */
  dnsUpstream?: string[];
  /**
   * Agent: how the ambassador moves a connection's bytes (`--splice`): `auto` (default) in
   * the kernel with splice(2) when the native module loads, else by copying; `on` fails at
   * start without it; `off` always copies.
   */
  splice?: SpliceMode;
  /**
   * Agent: the TCP congestion control of the ambassador's own sockets (`--tcp-congestion`,
   * default `cubic`; `system` keeps the host's default). See controllers/ambassador/congestion.ts.
   */
  tcpCongestion?: string;
  /**
   * Agent: whether the ambassador opens its link-port listeners (default true). False keeps
   * only its bookkeeping (ports, endpoints, pickers): the hollow hosts of the scale bench,
   * many agents in one process, where every host would want the same ports.
   */
  linkListeners?: boolean;
  /** Agent: the web router's HTTP port on the host's address (`--router-http-port`, default 80; 0: off). */
  routerHttpPort?: number;
  /** Agent: the web router's HTTPS port (`--router-https-port`, default 443; 0: off; none either without a certificate). */
  routerHttpsPort?: number;
  /** Agent: what the host keeps for itself, taken off its capacity (`--reserve-cpus`, default 0; `--reserve-memory`, default 256Mi). */
  reserve?: Amounts;
  /** Agent: the capacity to report instead of the engine's figures (`--capacity-cpus`, `--capacity-memory`; tests and odd hosts). */
  capacity?: Partial<Amounts>;
  /**
   * The file holding the cluster key's private half (`--cluster-key-file`): controllers
   * re-seal secrets with it, agents open registry credentials with it.
   */
  clusterKeyFile?: string;
  /** Agent: where it keeps its own state, such as its sealing key (`--state-dir`; `<dir>/<node>/sealing.key`). */
  stateDir?: string;
  /** Agent: where secret and config files go, on a tmpfs it mounts (`--secrets-dir`; `<dir>/<node>`). */
  secretsDir?: string;
  /** Agent: where the web router keeps its haproxy files (`--router-dir`; `<dir>/<node>`): two agents on one machine (labs) need two. */
  routerDir?: string;
  /** Agent: host path prefixes manifests may bind-mount (`--allow-host-path`, repeatable); none by default. */
  allowHostPaths?: string[];
  /** Scheduler: registries whose distribution API it reaches over plain HTTP (`--insecure-registries`; 127.0.0.0/8 and localhost always are). */
  insecureRegistries?: string[];
}

export type SpliceMode = 'auto' | 'on' | 'off';
const SPLICE_MODES: readonly SpliceMode[] = ['auto', 'on', 'off'];

export interface PortRange {
  min: number;
  max: number;
}

export const DEFAULT_LINK_PORTS: PortRange = { min: 20000, max: 29999 };
export const DEFAULT_SKYDNS_PREFIX = '/skydns';
export const DEFAULT_DNS_PORT = 53;
export const DEFAULT_TCP_CONGESTION = 'cubic';
export const DEFAULT_ROUTER_HTTP_PORT = 80;
export const DEFAULT_ROUTER_HTTPS_PORT = 443;
/** What an agent keeps off its host's memory by default: room for the agent, dockerd and the OS. */
export const DEFAULT_RESERVE_MEMORY = '256Mi';
export const DEFAULT_STATE_DIR = '/var/lib/dokkaa/agent';
export const DEFAULT_SECRETS_DIR = '/run/dokkaa/secrets';
export const DEFAULT_ROUTER_DIR = '/run/dokkaa/router';

/** A flag or env var with a value it cannot have: a usage error (the CLI exits 2). */
export class BadValueError extends Error {}

/** A setting's flag and env var, and what `--help` says of it. */
export interface Setting {
  /** The flag without its dashes. */
  flag: string;
  /** How `--help` names the flag's value. */
  value: string;
  env: string;
  help: string;
  /** The default when it is a constant; otherwise `help` says how loadConfig finds it. */
  default?: string;
  /** The value of the flag given alone (`--fence` is `--fence true`); without it, the flag needs a value. */
  alone?: string;
}

const SETTING_TABLE = {
  etcd: { flag: 'etcd', value: 'URL[,URL]', env: 'DOKKAA_ETCD', help: 'etcd endpoints, comma-separated', default: 'http://127.0.0.1:2379' },
  etcdCa: { flag: 'etcd-ca', value: 'FILE', env: 'DOKKAA_ETCD_CA', help: "the CA of etcd's server certificate (PEM); with --etcd-cert and --etcd-key, for https:// endpoints" },
  etcdCert: { flag: 'etcd-cert', value: 'FILE', env: 'DOKKAA_ETCD_CERT', help: "this client's certificate for etcd (PEM; its CN is its etcd user)" },
  etcdKey: { flag: 'etcd-key', value: 'FILE', env: 'DOKKAA_ETCD_KEY', help: "this client's private key for etcd (PEM)" },
  prefix: { flag: 'prefix', value: 'P', env: 'DOKKAA_PREFIX', help: 'root of every key', default: '/dokkaa' },
  docker: { flag: 'docker', value: 'URL', env: 'DOKKAA_DOCKER', help: 'the Docker Engine: unix:///path, /path or tcp://host:port', default: 'unix:///var/run/docker.sock' },
  node: { flag: 'node', value: 'NAME', env: 'DOKKAA_NODE', help: "this host's node name (default the hostname)" },
  address: { flag: 'address', value: 'IP', env: 'DOKKAA_ADDRESS', help: 'how other hosts reach this one (default the Docker bridge gateway)' },
  label: { flag: 'label', value: 'k=v', env: 'DOKKAA_LABELS', help: 'a node label, for constraints; repeatable (the env var takes k=v,k=v)' },
  leaseTtl: { flag: 'lease-ttl', value: 'S', env: 'DOKKAA_LEASE_TTL', help: "seconds before a silent host's keys expire", default: '10' },
  resync: { flag: 'resync', value: 'S', env: 'DOKKAA_RESYNC', help: 'seconds between periodic full reconciles', default: '30' },
  fence: { flag: 'fence', value: 'true|false', env: 'DOKKAA_FENCE', help: "remove a cut-off host's containers before its lease expires", default: 'true', alone: 'true' },
  linkPorts: { flag: 'link-ports', value: 'A-B', env: 'DOKKAA_LINK_PORTS', help: 'ports for stable link addresses', default: `${DEFAULT_LINK_PORTS.min}-${DEFAULT_LINK_PORTS.max}` },
  dnsPort: { flag: 'dns-port', value: 'N', env: 'DOKKAA_DNS_PORT', help: "the agent's DNS server port (0: off)", default: String(DEFAULT_DNS_PORT) },
  dnsUpstream: { flag: 'dns-upstream', value: 'IP[,IP]', env: 'DOKKAA_DNS_UPSTREAM', help: "where other names are forwarded (default the host's /etc/resolv.conf)" },
  skydnsPrefix: { flag: 'skydns-prefix', value: 'P', env: 'DOKKAA_SKYDNS_PREFIX', help: 'SkyDNS records path', default: DEFAULT_SKYDNS_PREFIX },
  splice: { flag: 'splice', value: 'auto|on|off', env: 'DOKKAA_SPLICE', help: 'ambassador data path: splice(2) in the kernel or copying', default: 'auto' },
  tcpCongestion: { flag: 'tcp-congestion', value: 'CC', env: 'DOKKAA_TCP_CONGESTION', help: "the ambassador's sockets' congestion control (system: the host's default)", default: DEFAULT_TCP_CONGESTION },
  routerHttpPort: { flag: 'router-http-port', value: 'N', env: 'DOKKAA_ROUTER_HTTP_PORT', help: "the web router's HTTP port on this host's address (0: off)", default: String(DEFAULT_ROUTER_HTTP_PORT) },
  routerHttpsPort: { flag: 'router-https-port', value: 'N', env: 'DOKKAA_ROUTER_HTTPS_PORT', help: "the web router's HTTPS port (0: off)", default: String(DEFAULT_ROUTER_HTTPS_PORT) },
  reserveCpus: { flag: 'reserve-cpus', value: 'N', env: 'DOKKAA_RESERVE_CPUS', help: "CPUs kept for the host, not offered to replicas", default: '0' },
  reserveMemory: { flag: 'reserve-memory', value: 'Q', env: 'DOKKAA_RESERVE_MEMORY', help: 'memory kept for the host (bytes, or 512Mi, 1Gi, ...)', default: DEFAULT_RESERVE_MEMORY },
  capacityCpus: { flag: 'capacity-cpus', value: 'N', env: 'DOKKAA_CAPACITY_CPUS', help: "the host's CPUs, instead of what the engine reports (tests, odd hosts)" },
  capacityMemory: { flag: 'capacity-memory', value: 'Q', env: 'DOKKAA_CAPACITY_MEMORY', help: "the host's memory, instead of what the engine reports (tests, odd hosts)" },
  clusterKeyFile: { flag: 'cluster-key-file', value: 'FILE', env: 'DOKKAA_CLUSTER_KEY_FILE', help: 'the cluster key (dokkaa cluster-key init): controllers re-seal secrets and registry credentials to each node and resolve image digests with it; agents need none' },
  stateDir: { flag: 'state-dir', value: 'DIR', env: 'DOKKAA_STATE_DIR', help: "the agent's state (its sealing key: DIR/<node>/sealing.key)", default: DEFAULT_STATE_DIR },
  secretsDir: { flag: 'secrets-dir', value: 'DIR', env: 'DOKKAA_SECRETS_DIR', help: 'where secret and config files go (DIR/<node>, a tmpfs the agent mounts)', default: DEFAULT_SECRETS_DIR },
  routerDir: { flag: 'router-dir', value: 'DIR', env: 'DOKKAA_ROUTER_DIR', help: "the web router's haproxy config, socket and pid file (DIR/<node>)", default: DEFAULT_ROUTER_DIR },
  allowHostPath: { flag: 'allow-host-path', value: 'DIR', env: 'DOKKAA_ALLOW_HOST_PATHS', help: 'a host directory manifests may bind-mount (with what is under it); repeatable (the env var takes DIR,DIR)' },
  insecureRegistries: { flag: 'insecure-registries', value: 'HOST[,HOST]', env: 'DOKKAA_INSECURE_REGISTRIES', help: 'registries the scheduler resolves image digests from over plain HTTP (127.0.0.0/8 and localhost always)' },
  logLevel: { flag: 'log-level', value: 'L', env: 'DOKKAA_LOG_LEVEL', help: 'error, warn, info, debug...', default: 'info' },
} satisfies Record<string, Setting>;

export type SettingName = keyof typeof SETTING_TABLE;
type DefaultedSetting = { [K in SettingName]: (typeof SETTING_TABLE)[K] extends { default: string } ? K : never }[SettingName];

/**
 * Every setting, by the name commander gives its flag's value (`--lease-ttl` -> `leaseTtl`):
 * the table the CLI builds its flags and their help from, and loadConfig reads.
 */
export const SETTINGS: Readonly<Record<SettingName, Setting>> = SETTING_TABLE;

/** Settings whose flag may be given more than once, each value kept. */
export const REPEATABLE_SETTINGS: readonly SettingName[] = ['label', 'allowHostPath'];
type RepeatableSetting = 'label' | 'allowHostPath';

/** Settings as flags gave them: unchecked text, the last of a repeated flag; `--label` and `--allow-host-path` keep every one. */
export type ConfigFlags = { [K in SettingName]?: K extends RepeatableSetting ? readonly string[] : string };

/** Reads each setting from its flag, else its env var, else its default; throws BadValueError. */
export function loadConfig(flags: ConfigFlags, env: NodeJS.ProcessEnv = process.env): Config {
  const given = (name: Exclude<SettingName, RepeatableSetting>): string | undefined => flags[name] ?? env[SETTINGS[name].env];
  const value = (name: DefaultedSetting): string => given(name) ?? SETTING_TABLE[name].default;
  const labels: Record<string, string> = {};
  const labelArgs = flags.label ?? (env.DOKKAA_LABELS ? env.DOKKAA_LABELS.split(',') : []);
  for (const l of labelArgs) {
    const eq = l.indexOf('=');
    if (eq <= 0) throw new BadValueError(`--label: expected k=v, got ${JSON.stringify(l)}`);
    labels[l.slice(0, eq)] = l.slice(eq + 1);
  }
  const dnsUpstream = given('dnsUpstream');
  const capacityCpus = given('capacityCpus');
  const capacityMemory = given('capacityMemory');
  const clusterKeyFile = given('clusterKeyFile');
  const allowHostPaths = flags.allowHostPath ?? (env.DOKKAA_ALLOW_HOST_PATHS ? env.DOKKAA_ALLOW_HOST_PATHS.split(',').filter(Boolean) : []);
  for (const p of allowHostPaths) {
    if (!p.startsWith('/') || p.replace(/\/+$/, '') === '') throw new BadValueError(`--allow-host-path: expected an absolute directory other than /, got ${JSON.stringify(p)}`);
  }
  const insecureRegistries = given('insecureRegistries');
  const etcd = value('etcd').split(',');
  return {
    etcd,
    ...etcdTls(etcd, given('etcdCa'), given('etcdCert'), given('etcdKey')),
    prefix: value('prefix'),
    docker: value('docker'),
    node: given('node') ?? hostname(),
    address: given('address') ?? '',
    labels,
    leaseTtlSeconds: positiveNumber('lease-ttl', value('leaseTtl')),
    resyncSeconds: positiveNumber('resync', value('resync')),
    logLevel: value('logLevel'),
    fence: value('fence') !== 'false',
    linkPorts: portRange(value('linkPorts')),
    skydnsPrefix: value('skydnsPrefix'),
    dnsPort: port('dns-port', value('dnsPort'), true),
    splice: spliceMode(value('splice')),
    tcpCongestion: congestion(value('tcpCongestion')),
    routerHttpPort: port('router-http-port', value('routerHttpPort'), true),
    routerHttpsPort: port('router-https-port', value('routerHttpsPort'), true),
    ...(dnsUpstream ? { dnsUpstream: dnsUpstream.split(',').filter(Boolean) } : {}),
    reserve: { cpus: nonNegativeNumber('reserve-cpus', value('reserveCpus')), memoryBytes: memory('reserve-memory', value('reserveMemory'), true) },
    ...(capacityCpus !== undefined || capacityMemory !== undefined
      ? {
          capacity: {
            ...(capacityCpus !== undefined ? { cpus: positiveNumber('capacity-cpus', capacityCpus) } : {}),
            ...(capacityMemory !== undefined ? { memoryBytes: memory('capacity-memory', capacityMemory) } : {}),
          },
        }
      : {}),
    ...(clusterKeyFile ? { clusterKeyFile } : {}),
    stateDir: value('stateDir'),
    secretsDir: value('secretsDir'),
    routerDir: value('routerDir'),
    ...(allowHostPaths.length ? { allowHostPaths: [...allowHostPaths] } : {}),
    ...(insecureRegistries ? { insecureRegistries: insecureRegistries.split(',').map((h) => h.trim().toLowerCase()).filter(Boolean) } : {}),
  };
}

/**
 * The TLS files, all three or none, and endpoints that agree: https:// with them, http://
 * without (etcd3 would otherwise speak TLS to an http:// URL, or connect without a client
 * certificate to an https:// one).
 */
function etcdTls(endpoints: string[], ca: string | undefined, cert: string | undefined, key: string | undefined): Pick<Config, 'etcdCa' | 'etcdCert' | 'etcdKey'> {
  const files = { 'etcd-ca': ca, 'etcd-cert': cert, 'etcd-key': key };
  const given = Object.entries(files).filter(([, v]) => v);
  if (given.length === 0) {
    const secure = endpoints.find((e) => e.startsWith('https://'));
    if (secure) throw new BadValueError(`--etcd: ${secure} is https://, which needs --etcd-ca, --etcd-cert and --etcd-key (or DOKKAA_ETCD_CA, _CERT, _KEY)`);
    return {};
  }
  const missing = Object.entries(files).filter(([, v]) => !v).map(([k]) => `--${k}`);
  if (missing.length) throw new BadValueError(`${given.map(([k]) => `--${k}`).join(', ')}: TLS to etcd needs all of --etcd-ca, --etcd-cert and --etcd-key; missing ${missing.join(', ')}`);
  const plain = endpoints.find((e) => !e.startsWith('https://'));
  if (plain) throw new BadValueError(`--etcd: expected https:// endpoints with --etcd-ca, --etcd-cert and --etcd-key, got ${JSON.stringify(plain)}`);
  return { etcdCa: ca!, etcdCert: cert!, etcdKey: key! };
}

/** A memory quantity as manifests take it (api/quantities.ts); `0` too where `zeroOk`. */
function memory(name: string, value: string, zeroOk = false): number {
  if (zeroOk && value.trim() === '0') return 0;
  const bytes = parseMemory(value);
  if (bytes === undefined) throw new BadValueError(`--${name}: expected a memory amount (bytes, or a number with Ki, Mi, Gi, K, M or G${zeroOk ? '; 0: none' : ''}), got ${JSON.stringify(value)}`);
  return bytes;
}

function nonNegativeNumber(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || value.trim() === '') throw new BadValueError(`--${name}: expected a number >= 0, got ${JSON.stringify(value)}`);
  return n;
}

function spliceMode(value: string): SpliceMode {
  const mode = SPLICE_MODES.find((m) => m === value);
  if (!mode) throw new BadValueError(`--splice: expected ${SPLICE_MODES.join(' | ')}, got ${JSON.stringify(value)}`);
  return mode;
}

/** An algorithm name as the kernel spells them (at most 15 characters), or `system`. */
function congestion(value: string): string {
  if (!/^[a-z0-9_-]{1,15}$/.test(value)) throw new BadValueError(`--tcp-congestion: expected an algorithm name (cubic, reno, bbr, ...) or system, got ${JSON.stringify(value)}`);
  return value;
}

function port(name: string, value: string, zeroOk = false): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < (zeroOk ? 0 : 1) || n > 65535 || value.trim() === '') {
    throw new BadValueError(`--${name}: expected a port number${zeroOk ? ' (0: off)' : ''}, got ${JSON.stringify(value)}`);
  }
  return n;
}

function portRange(value: string): PortRange {
  const m = /^(\d+)-(\d+)$/.exec(value.trim());
  const range = m ? { min: port('link-ports', m[1]!), max: port('link-ports', m[2]!) } : undefined;
  if (!range || range.min > range.max) throw new BadValueError(`--link-ports: expected MIN-MAX, got ${JSON.stringify(value)}`);
  return range;
}

/** `value` as a number > 0, else a BadValueError naming `--name`. */
export function positiveNumber(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new BadValueError(`--${name}: expected a positive number, got ${JSON.stringify(value)}`);
  return n;
}
