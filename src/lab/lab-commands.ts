import { parseArgs, type ParsedArgs } from '../config.js';
import { UsageError } from '../cli/client-commands.js';
import { DEFAULT_LAB } from './lab-layout.js';
import { labDown } from './lab-down.js';
import { formatStatus, labStatus } from './lab-status.js';
import { labUp } from './lab-up.js';
import { healNode, killController, killNode, partitionNode, restoreNode } from './node-faults.js';

export const LAB_USAGE = `usage: dokkaa lab COMMAND [--name LAB]   (several Docker hosts on this machine, each in a netns)
  up --nodes N [--controllers K] [--ttl SECONDS] [--label NODE:k=v ...] [--log-level L]
                                     create or repair the lab (idempotent); --label (repeatable)
                                     sets node labels; given at all, it is the complete set
  down                               remove everything the lab made
  status [--json]                    nodes, engines, agents, etcd, controllers, leader
  kill-node NODE | restore-node NODE hard host failure / recovery
  partition NODE | heal NODE         cut a host off the network (its agent keeps running and
                                     must fence itself) / reconnect it
  kill-controller PID                SIGKILL one of the lab's controllers (e.g. the leader)`;

/** `--label n1:disk=ssd` (repeatable) -> { n1: { disk: 'ssd' } }. */
export function parseNodeLabels(values: readonly string[]): Record<string, Record<string, string>> {
  const labels: Record<string, Record<string, string>> = {};
  for (const v of values) {
    const m = /^([^:=]+):([^=,]+)=([^,]*)$/.exec(v);
    if (!m) throw new UsageError(`--label: expected NODE:key=value, got ${JSON.stringify(v)}`);
    (labels[m[1]!] ??= {})[m[2]!] = m[3]!;
  }
  return labels;
}

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
      const controllers = positiveInt('controllers', one(args, 'controllers'));
      const logLevel = one(args, 'log-level');
      const labelArgs = args.flags.get('label');
      const r = await labUp({
        name,
        ...(nodes ? { nodes } : {}),
        ...(controllers ? { controllers } : {}),
        ...(ttlSeconds ? { ttlSeconds } : {}),
        ...(logLevel ? { logLevel } : {}),
        ...(labelArgs ? { labels: parseNodeLabels(labelArgs) } : {}),
      });
      const s = r.state;
      return [
        `lab ${s.name}: ${s.nodes.length} nodes (${s.nodes.map((n) => `${n.name}=${n.address}`).join(' ')}), ${s.controllers.length} controller(s), ${r.changes.length ? `${r.changes.length} changes` : 'no changes'} in ${(r.elapsedMs / 1000).toFixed(1)} s`,
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
    case 'kill-controller': {
      const pid = positiveInt('pid', args.positional[0]);
      if (!pid) throw new UsageError(`usage: dokkaa lab kill-controller PID [--name LAB]`);
      await killController(pid, { name });
      return `controller pid ${pid} killed`;
    }
    case 'help':
    case '--help':
    case undefined:
      return LAB_USAGE;
    default:
      throw new UsageError(LAB_USAGE);
  }
}
