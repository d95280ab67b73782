import { hostname } from 'node:os';

/** Runtime settings, from flags first, then `DOKKAA_*` env vars, then defaults. */
export interface Config {
  etcd: string[];
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

export interface ParsedArgs {
  positional: string[];
  flags: Map<string, string[]>;
}

/** Parses `--flag value`, `--flag=value` and bare `--switch` (value "true"). */
export function parseArgs(argv: string[], switches: ReadonlySet<string> = new Set()): ParsedArgs {
  const positional: string[] = [];
  const flags = new Map<string, string[]>();
  const push = (k: string, v: string) => flags.set(k, [...(flags.get(k) ?? []), v]);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      if (eq > 0) push(arg.slice(2, eq), arg.slice(eq + 1));
      else if (switches.has(arg.slice(2)) || i + 1 >= argv.length || argv[i + 1]!.startsWith('--')) push(arg.slice(2), 'true');
      else push(arg.slice(2), argv[++i]!);
    } else if (arg === '-f' && switches.has('f')) {
      push('f', 'true');
    } else if (arg === '-f' && i + 1 < argv.length) {
      push('file', argv[++i]!);
    } else {
      positional.push(arg);
    }
  }
  return { positional, flags };
}

export function loadConfig(args: ParsedArgs, env: NodeJS.ProcessEnv = process.env): Config {
  const one = (flag: string, envName: string): string | undefined => args.flags.get(flag)?.at(-1) ?? env[envName];
  const labels: Record<string, string> = {};
  const labelArgs = args.flags.get('label') ?? (env.DOKKAA_LABELS ? env.DOKKAA_LABELS.split(',') : []);
  for (const l of labelArgs) {
    const eq = l.indexOf('=');
    if (eq <= 0) throw new Error(`--label: expected k=v, got ${JSON.stringify(l)}`);
    labels[l.slice(0, eq)] = l.slice(eq + 1);
  }
  return {
    etcd: (one('etcd', 'DOKKAA_ETCD') ?? 'http://127.0.0.1:2379').split(','),
    prefix: one('prefix', 'DOKKAA_PREFIX') ?? '/dokkaa',
    docker: one('docker', 'DOKKAA_DOCKER') ?? 'unix:///var/run/docker.sock',
    node: one('node', 'DOKKAA_NODE') ?? hostname(),
    address: one('address', 'DOKKAA_ADDRESS') ?? '',
    labels,
    leaseTtlSeconds: positiveNumber('lease-ttl', one('lease-ttl', 'DOKKAA_LEASE_TTL') ?? '10'),
    resyncSeconds: positiveNumber('resync', one('resync', 'DOKKAA_RESYNC') ?? '30'),
    logLevel: one('log-level', 'DOKKAA_LOG_LEVEL') ?? 'info',
    fence: (one('fence', 'DOKKAA_FENCE') ?? 'true') !== 'false',
    linkPorts: portRange(one('link-ports', 'DOKKAA_LINK_PORTS')),
    skydnsPrefix: one('skydns-prefix', 'DOKKAA_SKYDNS_PREFIX') ?? DEFAULT_SKYDNS_PREFIX,
    dnsPort: port('dns-port', one('dns-port', 'DOKKAA_DNS_PORT') ?? String(DEFAULT_DNS_PORT), true),
    splice: spliceMode(one('splice', 'DOKKAA_SPLICE') ?? 'auto'),
    tcpCongestion: congestion(one('tcp-congestion', 'DOKKAA_TCP_CONGESTION') ?? DEFAULT_TCP_CONGESTION),
    ...(one('dns-upstream', 'DOKKAA_DNS_UPSTREAM') ? { dnsUpstream: one('dns-upstream', 'DOKKAA_DNS_UPSTREAM')!.split(',').filter(Boolean) } : {}),
  };
}

function spliceMode(value: string): SpliceMode {
  const mode = SPLICE_MODES.find((m) => m === value);
  if (!mode) throw new Error(`--splice: expected ${SPLICE_MODES.join(' | ')}, got ${JSON.stringify(value)}`);
  return mode;
}

/** An algorithm name as the kernel spells them (at most 15 characters), or `system`. */
function congestion(value: string): string {
  if (!/^[a-z0-9_-]{1,15}$/.test(value)) throw new Error(`--tcp-congestion: expected an algorithm name (cubic, reno, bbr, ...) or system, got ${JSON.stringify(value)}`);
  return value;
}

function port(name: string, value: string, zeroOk = false): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < (zeroOk ? 0 : 1) || n > 65535 || value.trim() === '') {
    throw new Error(`--${name}: expected a port number${zeroOk ? ' (0: off)' : ''}, got ${JSON.stringify(value)}`);
  }
  return n;
}

function portRange(value: string | undefined): PortRange {
  if (value === undefined) return { ...DEFAULT_LINK_PORTS };
  const m = /^(\d+)-(\d+)$/.exec(value.trim());
  const range = m ? { min: port('link-ports', m[1]!), max: port('link-ports', m[2]!) } : undefined;
  if (!range || range.min > range.max) throw new Error(`--link-ports: expected MIN-MAX, got ${JSON.stringify(value)}`);
  return range;
}

function positiveNumber(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name}: expected a positive number, got ${JSON.stringify(value)}`);
  return n;
}
