import { AGENT_MODULES, CONTROLLER_MODULES } from '../ioc/process-container.js';
import { loadConfig, parseArgs } from '../config.js';
import { createLogger } from '../logging.js';
import { VERSION } from '../version.js';
import { apply, nodes, remove, status, UsageError } from './client-commands.js';
import { describe, logs, rollback, rolloutStatus } from './lifecycle-commands.js';
import { etcdReachable, startLocalEtcd } from './local-etcd.js';
import { serve } from './serve.js';
import { labCommand } from '../lab/lab-commands.js';

const HELP = `dokkaa ${VERSION}: declarative containers on plain Docker hosts

  dokkaa up [--etcd URL]                 everything on this host, in the foreground
  dokkaa agent --etcd URL --docker unix:///var/run/docker.sock --node NAME --address IP [--label k=v]
  dokkaa controller --etcd URL           the cluster-wide controllers
  dokkaa apply -f FILE --app APP [--name NAME]
  dokkaa delete APP/NAME
  dokkaa status [APP[/NAME]] [--json]
  dokkaa nodes [--json]
  dokkaa describe APP/NAME               status, placements, replicas, rollout and events
  dokkaa logs APP/NAME[/REPLICA] [-f] [--tail N]
  dokkaa rollout status APP/NAME         wait for a rolling update, showing progress
  dokkaa rollback APP/NAME               restore the previous version's spec
  dokkaa lab up|down|status|kill-node|restore-node|partition|heal ...   a multi-host lab on this machine (dokkaa lab help)

Flags (or env vars):
  --etcd URL[,URL]     DOKKAA_ETCD          default http://127.0.0.1:2379
  --prefix P           DOKKAA_PREFIX        default /dokkaa
  --docker URL         DOKKAA_DOCKER        default unix:///var/run/docker.sock
  --node NAME          DOKKAA_NODE          default the hostname
  --address IP         DOKKAA_ADDRESS       how other hosts reach this one (default: the Docker bridge gateway)
  --label k=v          DOKKAA_LABELS=k=v,.. node labels, for constraints (repeatable)
  --lease-ttl S        DOKKAA_LEASE_TTL     default 10
  --resync S           DOKKAA_RESYNC        periodic full reconcile, default 30
  --fence true|false   DOKKAA_FENCE         remove a cut-off host's containers before its lease expires (default true)
  --link-ports A-B     DOKKAA_LINK_PORTS    ports for stable link addresses
  --dns-port N         DOKKAA_DNS_PORT      the agent's DNS server port (53; 0: off)
  --dns-upstream IP    DOKKAA_DNS_UPSTREAM  where other names are forwarded
  --skydns-prefix P    DOKKAA_SKYDNS_PREFIX SkyDNS records path
  --splice auto|on|off DOKKAA_SPLICE        ambassador data path: splice(2) in the kernel or copying (auto)
  --tcp-congestion CC  DOKKAA_TCP_CONGESTION the ambassador's sockets' congestion control (cubic; system: host default)
  --log-level L        DOKKAA_LOG_LEVEL     default info
  DOKKAA_DATA_DIR      where \`dokkaa up\` keeps its etcd (default /var/lib/dokkaa/up)`;

async function main(argv: string[]): Promise<void> {
  const [command = 'help', ...rest] = argv;
  // For logs, -f means follow; for apply, -f names the file.
  const args = parseArgs(rest, new Set(command === 'logs' ? ['json', 'f', 'follow'] : ['json']));
  if (command === 'help' || command === '--help' || command === '-h') return void console.log(HELP);
  if (command === 'version' || command === '--version') return void console.log(VERSION);
  const config = loadConfig(args);
  switch (command) {
    case 'apply':
      return void console.log(await apply(args, config));
    case 'delete':
      return void console.log(await remove(args, config));
    case 'status':
      return void console.log(await status(args, config));
    case 'nodes':
      return void console.log(await nodes(args, config));
    case 'describe':
      return void console.log(await describe(args, config));
    case 'logs':
      return void (await logs(args, config, (c) => process.stdout.write(c)));
    case 'rollback':
      return void console.log(await rollback(args, config));
    case 'rollout': {
      if (args.positional[0] !== 'status') throw new UsageError('usage: dokkaa rollout status APP/NAME');
      const sub = { ...args, positional: args.positional.slice(1) };
      return void console.log(await rolloutStatus(sub, config, (line) => console.log(line)));
    }
    case 'lab':
      return void console.log(await labCommand(rest));
    case 'agent':
      return serve(config, createLogger(config.logLevel), AGENT_MODULES);
    case 'controller':
      return serve(config, createLogger(config.logLevel), CONTROLLER_MODULES);
    case 'up': {
      const log = createLogger(config.logLevel);
      let stopEtcd: (() => Promise<void>) | undefined;
      if (!args.flags.has('etcd') && !process.env.DOKKAA_ETCD && !(await etcdReachable(config.etcd))) {
        const etcd = await startLocalEtcd(process.env.DOKKAA_DATA_DIR ? `${process.env.DOKKAA_DATA_DIR}/etcd` : '/var/lib/dokkaa/up/etcd', 2379, log);
        config.etcd = [etcd.url];
        stopEtcd = etcd.stop;
      }
      return serve(config, log, [...AGENT_MODULES, ...CONTROLLER_MODULES], stopEtcd);
    }
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}; see dokkaa help`);
  }
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err instanceof UsageError ? err.message : `error: ${(err as Error).message}`);
    process.exit(1);
  },
);
