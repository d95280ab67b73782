import { parseArgs, type ParsedArgs } from '../config.js';
import { UsageError } from '../cli/client-commands.js';
import { DEFAULT_LAB } from './lab-layout.js';
import { labDown } from './lab-down.js';
import { formatStatus, labStatus } from './lab-status.js';
import { labUp } from './lab-up.js';
import { healNode, killNode, partitionNode, restoreNode } from './node-faults.js';

export const LAB_USAGE = `usage: dokkaa lab COMMAND [--name LAB]   (several Docker hosts on this machine, each in a netns)
  up --nodes N [--ttl SECONDS] [--log-level L]   create or repair the lab (idempotent)
  down                                           remove everything the lab made
  status [--json]                                nodes, engines, agents, etcd, controller
  kill-node NODE | restore-node NODE             hard host failure / recovery
  partition NODE | heal NODE                     cut a host off the network / reconnect it`;

function one(args: ParsedArgs, flag: string): string | undefined {
  return args.flags.get(flag)?.at(-1);
}

function positiveInt(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`--${flag}: expected a positive integer, got ${JSON.stringify(value)}`);
  return n;
}

/** `dokkaa lab ...`: returns what to print on stdout; progress goes to stderr. */
export async function labCommand(argv: string[]): Promise<string> {
  const [sub, ...rest] = argv;
  const args = parseArgs(rest, new Set(['json']));
  const name = one(args, 'name') ?? DEFAULT_LAB;
  const nodeArg = (): string => {
    const node = args.positional[0];
    if (!node) throw new UsageError(`usage: dokkaa lab ${sub} NODE [--name LAB]`);
    return node;
  };
  switch (sub) {
    case 'up': {
      const nodes = positiveInt('nodes', one(args, 'nodes'));
      const ttlSeconds = positiveInt('ttl', one(args, 'ttl'));
      const logLevel = one(args, 'log-level');
      const r = await labUp({ name, ...(nodes ? { nodes } : {}), ...(ttlSeconds ? { ttlSeconds } : {}), ...(logLevel ? { logLevel } : {}) });
      const s = r.state;
      return [
        `lab ${s.name}: ${s.nodes.length} nodes (${s.nodes.map((n) => `${n.name}=${n.address}`).join(' ')}), ${r.changes.length ? `${r.changes.length} changes` : 'no changes'} in ${(r.elapsedMs / 1000).toFixed(1)} s`,
        `etcd: ${s.etcdClientUrl}   engines: unix://${s.stateDir}/nI/docker.sock`,
        `export DOKKAA_ETCD=${s.etcdClientUrl}`,
      ].join('\n');
    }
    case 'down': {
      const r = await labDown(name);
      if (r.problems.length) throw new Error(`lab ${name} partly removed (${(r.elapsedMs / 1000).toFixed(1)} s); problems:\n  ${r.problems.join('\n  ')}`);
      return `lab ${name} removed in ${(r.elapsedMs / 1000).toFixed(1)} s`;
    }
    case 'status': {
      const s = await labStatus(name);
      return args.flags.has('json') ? JSON.stringify(s, null, 2) : formatStatus(s);
    }
    case 'kill-node':
      await killNode(nodeArg(), { name });
      return `${nodeArg()} killed`;
    case 'restore-node':
      await restoreNode(nodeArg(), { name });
      return `${nodeArg()} restored`;
    case 'partition':
      await partitionNode(nodeArg(), { name });
      return `${nodeArg()} partitioned`;
    case 'heal':
      await healNode(nodeArg(), { name });
      return `${nodeArg()} healed`;
    case 'help':
    case '--help':
    case undefined:
      return LAB_USAGE;
    default:
      throw new UsageError(LAB_USAGE);
  }
}
