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
}

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
  };
}

function positiveNumber(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name}: expected a positive number, got ${JSON.stringify(value)}`);
  return n;
}
