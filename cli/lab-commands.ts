import { Command } from 'commander';
import { BadValueError } from '../src/config.js';
import { UsageError } from './client-commands.js';
import { DEFAULT_LAB } from '../lab/lab-layout.js';
import { labDown } from '../lab/lab-down.js';
import { formatStatus, labStatus } from '../lab/lab-status.js';
import { labAddHost, labUp, type LabAddHostOptions, type LabUpOptions } from '../lab/lab-up.js';
import { parseHostCapacities, parseHostCapacity } from '../lab/host-capacity.js';
import { healNode, killController, killNode, partitionNode, restoreNode } from '../lab/node-faults.js';
import { killEtcdMember, restoreEtcdMembers } from '../lab/etcd-member-faults.js';
import { etcdClientUrls } from '../lab/lab-etcd-cluster.js';
import { labEtcdEnv } from '../lab/lab-pki.js';

export const LAB_USAGE = `usage: dokkaa lab COMMAND [--name LAB]   (several Docker hosts on this machine, each in a netns)
  up --nodes N [--controllers K] [--etcd-members 1|3|5|7] [--ttl SECONDS] [--label NODE:k=v ...]
     [--log-level L] [--host-capacity NODE=MEM:CPUS,...]
                                     create or repair the lab (idempotent); --label (repeatable)
                                     sets node labels, --host-capacity the size each agent
                                     reports (e.g. n1=1Gi:1,n2=4Gi:2); given at all, each is
                                     the complete set; --etcd-members is fixed while the lab lives
  add-host [--capacity MEM:CPUS] [--label k=v ...]
                                     one more host (the next nI), the others as they are
  down                               remove everything the lab made
  status [--json]                    nodes, engines, agents, etcd, controllers, leader
  kill-node NODE | restore-node NODE hard host failure / recovery
  partition NODE | heal NODE         cut a host off the network (its agent keeps running and
                                     must fence itself) / reconnect it
  kill-controller PID                SIGKILL one of the lab's controllers (e.g. the leader)
  kill-etcd-member MEMBER|leader     SIGKILL one etcd member (--etcd-members > 1)
  restore-etcd-member                start the etcd members that are down (they rejoin)`;

/** `--label n1:disk=ssd` (repeatable) -> { n1: { disk: 'ssd' } }. */
export function parseNodeLabels(values: readonly string[]): Record<string, Record<string, string>> {
  const labels: Record<string, Record<string, string>> = {};
  for (const v of values) {
    const m = /^([^:=]+):([^=,]+)=([^,]*)$/.exec(v);
    if (!m) throw new BadValueError(`--label: expected NODE:key=value, got ${JSON.stringify(v)}`);
    (labels[m[1]!] ??= {})[m[2]!] = m[3]!;
  }
  return labels;
}

/** `--label disk=ssd` (repeatable) -> { disk: 'ssd' }. */
function parseLabels(values: readonly string[]): Record<string, string> {
  return Object.fromEntries(values.map((v) => {
    const eq = v.indexOf('=');
    if (eq <= 0) throw new BadValueError(`--label: expected key=value, got ${JSON.stringify(v)}`);
    return [v.slice(0, eq), v.slice(eq + 1)];
  }));
}

function positiveInt(flag: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n <= 0) throw new BadValueError(`--${flag}: expected a positive integer, got ${JSON.stringify(value)}`);
    return n;
  };
}

/** The commands that act on one host: what each calls, and says when done. */
const NODE_FAULTS = {
  'kill-node': { run: killNode, done: 'killed', description: 'hard host failure: agent killed, engine stopped' },
  'restore-node': { run: restoreNode, done: 'restored', description: 'bring a killed host back' },
  partition: { run: partitionNode, done: 'partitioned', description: 'cut a host off the network (its agent keeps running and must fence itself)' },
  heal: { run: healNode, done: 'healed', description: 'reconnect a partitioned host' },
} as const;
type NodeFault = keyof typeof NODE_FAULTS;

/** What a `dokkaa lab` command line asks for; the node and pid are checked when it runs. */
export type LabRequest =
  | { command: 'up'; options: LabUpOptions & { name: string } }
  | { command: 'add-host'; options: LabAddHostOptions & { name: string } }
  | { command: 'down'; name: string }
  | { command: 'status'; name: string; json: boolean }
  | { command: NodeFault; name: string; node?: string }
  | { command: 'kill-controller'; name: string; pid?: number }
  | { command: 'kill-etcd-member'; name: string; member?: number | 'leader' }
  | { command: 'restore-etcd-member'; name: string };

/**
 * The `dokkaa lab` command and its subcommands; each hands what its command line asks
 * for to `parsed`. Its own help is LAB_USAGE; each subcommand's `--help` is generated.
 */
export function labCommand(parsed: (request: LabRequest) => void): Command {
  const lab = new Command('lab').description('a multi-host lab on this machine');
  lab.helpInformation = () => `${LAB_USAGE}\n`;
  const sub = (name: string, description: string) => lab.command(name).description(description).option('--name <LAB>', 'which lab', DEFAULT_LAB);
  sub('up', 'create or repair the lab (idempotent)')
    .option('--nodes <N>', 'number of hosts (default: as many as the lab has, or 3)', positiveInt('nodes'))
    .option('--controllers <K>', 'controller processes, one leads (default: as many as the lab has, or 1)', positiveInt('controllers'))
    .option('--etcd-members <N>', 'etcd cluster members: 1, 3, 5 or 7 (default: as the lab has, or 1)', positiveInt('etcd-members'))
    .option('--ttl <SECONDS>', "the agents' lease TTL and the controllers' election lease (default: the lab's, or 10)", positiveInt('ttl'))
    .option('--label <NODE:k=v>', 'a node label (repeatable); given at all, the complete set', (v: string, before: string[] = []) => [...before, v])
    .option('--log-level <L>', "the lab's agents' and controllers' log level")
    .option('--host-capacity <NODE=MEM:CPUS,...>', 'the size each agent reports instead of the machine\'s, no reserve (repeatable); given at all, the complete set', (v: string, before: string[] = []) => [...before, v])
    .action((o: { name: string; nodes?: number; controllers?: number; etcdMembers?: number; ttl?: number; label?: string[]; logLevel?: string; hostCapacity?: string[] }) =>
      parsed({
        command: 'up',
        options: {
          name: o.name,
          ...(o.nodes ? { nodes: o.nodes } : {}),
          ...(o.controllers ? { controllers: o.controllers } : {}),
          ...(o.etcdMembers ? { etcdMembers: o.etcdMembers } : {}),
          ...(o.ttl ? { ttlSeconds: o.ttl } : {}),
          ...(o.logLevel ? { logLevel: o.logLevel } : {}),
          ...(o.label ? { labels: parseNodeLabels(o.label) } : {}),
          ...(o.hostCapacity ? { capacities: Object.assign({}, ...o.hostCapacity.map((v) => parseHostCapacities('--host-capacity', v))) as LabUpOptions['capacities'] } : {}),
        },
      }));
  sub('add-host', 'one more host (the next nI), the others as they are')
    .option('--capacity <MEM:CPUS>', "the size its agent reports instead of the machine's, no reserve (e.g. 4Gi:2)", (v: string) => parseHostCapacity('--capacity', v))
    .option('--label <k=v>', 'a node label (repeatable)', (v: string, before: string[] = []) => [...before, v])
    .action((o: { name: string; capacity?: LabAddHostOptions['capacity']; label?: string[] }) =>
      parsed({
        command: 'add-host',
        options: {
          name: o.name,
          ...(o.capacity ? { capacity: o.capacity } : {}),
          ...(o.label ? { labels: parseLabels(o.label) } : {}),
        },
      }));
  sub('down', 'remove everything the lab made').action((o: { name: string }) => parsed({ command: 'down', name: o.name }));
  sub('status', 'nodes, engines, agents, etcd, controllers, leader')
    .option('--json', 'print the status as JSON')
    .action((o: { name: string; json?: boolean }) => parsed({ command: 'status', name: o.name, json: !!o.json }));
  for (const command of Object.keys(NODE_FAULTS) as NodeFault[]) {
    sub(command, NODE_FAULTS[command].description).argument('[NODE]', 'the host, e.g. n1').action((node: string | undefined, o: { name: string }) => parsed({ command, name: o.name, node }));
  }
  sub('kill-controller', "SIGKILL one of the lab's controllers (e.g. the leader)")
    .argument('[PID]', 'its process id (see lab status)', positiveInt('pid'))
    .action((pid: number | undefined, o: { name: string }) => parsed({ command: 'kill-controller', name: o.name, pid }));
  sub('kill-etcd-member', 'SIGKILL one etcd member (a lab with --etcd-members > 1)')
    .argument('[MEMBER]', "its index (1..N, see lab status) or 'leader'", (v: string) => (v === 'leader' ? v : positiveInt('member')(v)))
    .action((member: number | 'leader' | undefined, o: { name: string }) => parsed({ command: 'kill-etcd-member', name: o.name, member }));
  sub('restore-etcd-member', 'start the etcd members that are down; they rejoin with their data')
    .action((o: { name: string }) => parsed({ command: 'restore-etcd-member', name: o.name }));
  return lab;
}

/** Carries out a `dokkaa lab` request: returns what to print on stdout; progress goes to stderr. */
export async function runLab(request: LabRequest): Promise<string> {
  switch (request.command) {
    case 'up': {
      const r = await labUp(request.options);
      const s = r.state;
      return [
        `lab ${s.name}: ${s.nodes.length} nodes (${s.nodes.map((n) => `${n.name}=${n.address}`).join(' ')}), ${s.controllers.length} controller(s), ${r.changes.length ? `${r.changes.length} changes` : 'no changes'} in ${(r.elapsedMs / 1000).toFixed(1)} s`,
        `etcd: ${etcdClientUrls(s).join(',')}   engines: unix://${s.stateDir}/nI/docker.sock`,
        ...Object.entries(labEtcdEnv(s)).map(([k, v]) => `export ${k}=${v}`),
      ].join('\n');
    }
    case 'add-host': {
      const r = await labAddHost(request.options);
      return `lab ${r.state.name}: added ${r.node.name}=${r.node.address} in ${(r.elapsedMs / 1000).toFixed(1)} s`;
    }
    case 'down': {
      const { name } = request;
      const r = await labDown(name);
      if (r.problems.length) throw new Error(`lab ${name} partly removed (${(r.elapsedMs / 1000).toFixed(1)} s); problems:\n  ${r.problems.join('\n  ')}`);
      return `lab ${name} removed in ${(r.elapsedMs / 1000).toFixed(1)} s`;
    }
    case 'status': {
      const s = await labStatus(request.name);
      return request.json ? JSON.stringify(s, null, 2) : formatStatus(s);
    }
    case 'kill-controller': {
      const { pid, name } = request;
      if (!pid) throw new UsageError(`usage: dokkaa lab kill-controller PID [--name LAB]`);
      await killController(pid, { name });
      return `controller pid ${pid} killed`;
    }
    case 'kill-etcd-member': {
      const { member, name } = request;
      if (!member) throw new UsageError(`usage: dokkaa lab kill-etcd-member MEMBER|leader [--name LAB]`);
      return `etcd member ${await killEtcdMember(member, { name })} killed`;
    }
    case 'restore-etcd-member': {
      const started = await restoreEtcdMembers({ name: request.name });
      return started.length ? `etcd member(s) ${started.join(', ')} started` : 'every etcd member runs';
    }
  }
  const { command, node, name } = request;
  if (!node) throw new UsageError(`usage: dokkaa lab ${command} NODE [--name LAB]`);
  await NODE_FAULTS[command].run(node, { name });
  return `${node} ${NODE_FAULTS[command].done}`;
}
