import { Command, CommanderError, Option } from 'commander';
import { BadValueError, positiveNumber, REPEATABLE_SETTINGS, SETTINGS, type ConfigFlags, type SettingName } from '../src/config.js';
import { labCommand, type LabRequest } from './lab-commands.js';
import { pkiCommand, type PkiRequest } from './pki-commands.js';
import { VERSION } from '../src/version.js';
import { UsageError, type ApplyOptions, type ListOptions } from './client-commands.js';
import { bashCompletion } from './completion.js';
import type { LogsOptions, RolloutStatusOptions } from './lifecycle-commands.js';
import type { CertAddOptions } from './router-commands.js';
import type { DrainOptions, RebalanceOptions } from './maintenance-commands.js';
import { isHostName } from '../api/names.js';
import { DEFAULT_ROUTER_DOMAIN } from '../api/records.js';
import { registryArgument } from './registry-commands.js';
import type { FileKind, ValueSource } from './secret-commands.js';
import type { PullOptions } from './image-commands.js';

export const HELP = `dokkaa ${VERSION}: declarative containers on plain Docker hosts

  dokkaa up [--etcd URL]                 everything on this host, in the foreground
  dokkaa agent --etcd URL --docker unix:///var/run/docker.sock --node NAME --address IP [--label k=v]
  dokkaa controller --etcd URL           the cluster-wide controllers
  dokkaa apply -f FILE --app APP [--name NAME]
  dokkaa delete APP/NAME [--purge]       delete the manifest (--purge: its replicas' volumes too)
  dokkaa status [APP[/NAME]] [--json]
  dokkaa nodes [--json]
  dokkaa describe APP/NAME               status, placements, replicas, routes, rollout and events
  dokkaa logs APP/NAME[/REPLICA] [-f] [--tail N]
  dokkaa rollout status APP/NAME         wait for a rolling update, showing progress
  dokkaa rollback APP/NAME               restore the previous version's spec
  dokkaa rollout restart APP/NAME        pin the image's tag again and roll every replica
  dokkaa pull APP/NAME [--timeout S]     pull the manifest's image on every node that may run it, printing progress
  dokkaa cordon NODE                     no new placements on NODE (uncordon NODE: schedulable again, ends a drain)
  dokkaa drain NODE [--timeout S] [--include-global]   cordon, then move NODE's replicas elsewhere, start-first
  dokkaa volumes [APP] [--json]          replicas' volumes: app/name, replica, volume, node, in use
  dokkaa volume rm APP/NAME/REPLICA/VOLUME [--node NODE]   remove a volume no replica uses (its node's agent does)
  dokkaa rebalance [APP[/NAME]] [--dry-run]   move replicas until the spread is as even as placement makes it
  dokkaa routes [--json]                 the web router's table: host name -> service, ready endpoints, conflicts
  dokkaa router set --domain D           name web services <service>.<app>.D (router show: the current one)
  dokkaa policy set -f FILE              the cluster's admission policy: registries, host paths, quotas, privileged apps (policy show: the current one)
  dokkaa cert add HOST --cert FILE --key FILE   a TLS certificate for HOST (cert list [--json], cert rm HOST)
  dokkaa pki init [--dir D] [--etcd-san IP|NAME]   a CA and certificates for TLS to etcd: etcd-server, controller, admin (default dir /etc/dokkaa/pki)
  dokkaa pki agent NODE [--dir D]        NODE's agent certificate (CN node-NODE); pki renew NAME, pki list: expiry and days left
  dokkaa auth setup [--node N ...]      etcd users and roles (admin, controller, node-N), then auth on (auth add-node N: one more node)
  dokkaa cluster-key init --out FILE     the key secrets and registry credentials are sealed to (controllers and agents: --cluster-key-file FILE)
  dokkaa secret set APP/NAME --from-file F | --from-literal V | --from-stdin   a secret, sealed; delivered only to hosts that use it (secret list [APP] [--json], secret rm APP/NAME)
  dokkaa config set APP/NAME --from-file F | --from-literal V | --from-stdin   a config file, in the clear (config list [APP] [--json], config rm APP/NAME)
  dokkaa registry login HOST --username U --password-stdin   pull from HOST with these (registry list [--json], registry logout HOST)
  dokkaa lab up|down|status|add-host|kill-node|restore-node|partition|heal ...   a multi-host lab on this machine (dokkaa lab help)
  dokkaa completion                      a bash completion script: source <(dokkaa completion)
  dokkaa COMMAND --help                  a command's own flags

Flags (or env vars):
  --etcd URL[,URL]     DOKKAA_ETCD          default http://127.0.0.1:2379
  --etcd-ca FILE       DOKKAA_ETCD_CA       the CA of etcd's server certificate (with https:// endpoints)
  --etcd-cert FILE     DOKKAA_ETCD_CERT     this client's certificate for etcd (its CN is its etcd user)
  --etcd-key FILE      DOKKAA_ETCD_KEY      this client's key for etcd
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
  --router-http-port N DOKKAA_ROUTER_HTTP_PORT  the web router's HTTP port on the host's address (80; 0: off)
  --router-https-port N DOKKAA_ROUTER_HTTPS_PORT the web router's HTTPS port (443; 0: off)
  --dns-upstream IP    DOKKAA_DNS_UPSTREAM  where other names are forwarded
  --skydns-prefix P    DOKKAA_SKYDNS_PREFIX SkyDNS records path
  --splice auto|on|off DOKKAA_SPLICE        ambassador data path: splice(2) in the kernel or copying (auto)
  --tcp-congestion CC  DOKKAA_TCP_CONGESTION the ambassador's sockets' congestion control (cubic; system: host default)
  --reserve-cpus N     DOKKAA_RESERVE_CPUS  CPUs kept for the host, not offered to replicas (0)
  --reserve-memory Q   DOKKAA_RESERVE_MEMORY memory kept for the host (256Mi; 0: none)
  --capacity-cpus N    DOKKAA_CAPACITY_CPUS the host's CPUs instead of the engine's figure (tests, odd hosts)
  --capacity-memory Q  DOKKAA_CAPACITY_MEMORY the host's memory instead of the engine's figure
  --cluster-key-file F DOKKAA_CLUSTER_KEY_FILE the cluster key (controllers re-seal secrets with it, agents open registry credentials)
  --state-dir DIR      DOKKAA_STATE_DIR     the agent's state: its sealing key (/var/lib/dokkaa/agent)
  --secrets-dir DIR    DOKKAA_SECRETS_DIR   the agent's tmpfs for secret and config files (/run/dokkaa/secrets)
  --allow-host-path DIR DOKKAA_ALLOW_HOST_PATHS manifests may bind-mount DIR and what is under it (repeatable; none by default)
  --insecure-registries H,.. DOKKAA_INSECURE_REGISTRIES registries the scheduler pins digests from over plain HTTP
  --log-level L        DOKKAA_LOG_LEVEL     default info
  DOKKAA_DATA_DIR      where \`dokkaa up\` keeps its etcd (default /var/lib/dokkaa/up)`;

/** What a command line asks for, parsed and its flags checked; main.ts carries it out. */
export type Invocation =
  | { command: 'print'; text: string }
  | { command: 'up' | 'agent' | 'controller'; flags: ConfigFlags }
  | { command: 'apply'; flags: ConfigFlags; options: ApplyOptions }
  | { command: 'describe' | 'rollback'; flags: ConfigFlags; target?: string }
  | { command: 'delete'; flags: ConfigFlags; target?: string; options: { purge: boolean } }
  | { command: 'volumes'; flags: ConfigFlags; target?: string; options: ListOptions }
  | { command: 'volume rm'; flags: ConfigFlags; target?: string; options: { node?: string } }
  | { command: 'status'; flags: ConfigFlags; target?: string; options: ListOptions }
  | { command: 'nodes'; flags: ConfigFlags; options: ListOptions }
  | { command: 'logs'; flags: ConfigFlags; target?: string; options: LogsOptions }
  | { command: 'rollout status'; flags: ConfigFlags; target?: string; options: RolloutStatusOptions }
  | { command: 'rollout restart'; flags: ConfigFlags; target?: string }
  | { command: 'pull'; flags: ConfigFlags; target?: string; options: PullOptions }
  | { command: 'routes' | 'cert list'; flags: ConfigFlags; options: ListOptions }
  | { command: 'router set'; flags: ConfigFlags; options: { domain: string } }
  | { command: 'router show'; flags: ConfigFlags }
  | { command: 'policy set'; flags: ConfigFlags; options: { file: string } }
  | { command: 'policy show'; flags: ConfigFlags }
  | { command: 'cert add'; flags: ConfigFlags; host: string; options: CertAddOptions }
  | { command: 'cert rm'; flags: ConfigFlags; host: string }
  | { command: 'cordon' | 'uncordon'; flags: ConfigFlags; target?: string }
  | { command: 'drain'; flags: ConfigFlags; target?: string; options: DrainOptions }
  | { command: 'rebalance'; flags: ConfigFlags; target?: string; options: RebalanceOptions }
  | { command: 'cluster-key init'; flags: ConfigFlags; options: { out: string } }
  | { command: 'auth setup'; flags: ConfigFlags; options: { nodes: string[]; enable: boolean } }
  | { command: 'auth add-node'; flags: ConfigFlags; node: string }
  | { command: 'registry login'; flags: ConfigFlags; host: string; options: { username: string } }
  | { command: 'registry logout'; flags: ConfigFlags; host: string }
  | { command: 'registry list'; flags: ConfigFlags; options: ListOptions }
  | { command: 'file set'; kind: FileKind; flags: ConfigFlags; target?: string; source: ValueSource }
  | { command: 'file rm'; kind: FileKind; flags: ConfigFlags; target?: string }
  | { command: 'file list'; kind: FileKind; flags: ConfigFlags; app?: string; options: ListOptions }
  | { command: 'lab'; request: LabRequest }
  | { command: 'pki'; request: PkiRequest };

/** Where parsing writes help (`out`) and commander's usage errors (`err`). */
export interface Output {
  out(text: string): void;
  err(text: string): void;
}

const PROCESS_OUTPUT: Output = { out: (text) => process.stdout.write(text), err: (text) => process.stderr.write(text) };

const SERVER_SETTINGS = Object.keys(SETTINGS) as SettingName[];
/** What the commands that only talk to etcd read. */
const CLIENT_SETTINGS: SettingName[] = ['etcd', 'etcdCa', 'etcdCert', 'etcdKey', 'prefix'];

/** Adds the flags of `names`, each saying its env var and default in `--help`. */
function withSettings(cmd: Command, names: readonly SettingName[]): Command {
  for (const name of names) {
    const s = SETTINGS[name];
    const value = s.alone === undefined ? `<${s.value}>` : `[${s.value}]`;
    const option = new Option(`--${s.flag} ${value}`, `${s.help} (env ${s.env}${s.default !== undefined ? `, default ${s.default}` : ''})`);
    if (s.alone !== undefined) option.preset(s.alone);
    if (REPEATABLE_SETTINGS.includes(name)) option.argParser((v: string, before: string[] = []) => [...before, v]);
    cmd.addOption(option);
  }
  return cmd;
}

/** The settings' flags a command was given (commander names each value as SETTINGS does). */
function settingFlags(cmd: Command, names: readonly SettingName[]): ConfigFlags {
  const given = cmd.opts<Record<string, unknown>>();
  return Object.fromEntries(names.filter((n) => given[n] !== undefined).map((n) => [n, given[n]])) as ConfigFlags;
}

function nonNegativeInt(flag: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0 || value.trim() === '') throw new BadValueError(`--${flag}: expected an integer >= 0, got ${JSON.stringify(value)}`);
    return n;
  };
}

/** A host name (lower-cased), `*.name` too if `wildcard`; `what` names the flag or argument in the error. */
function hostName(what: string, wildcard: boolean): (value: string) => string {
  return (value) => {
    if (!isHostName(value) || (!wildcard && value.startsWith('*.'))) {
      throw new BadValueError(`${what}: expected a DNS name (labels of a-z, 0-9 and "-" joined by dots${wildcard ? '; *.name for every name one label under name' : ''}), got ${JSON.stringify(value)}`);
    }
    return value.toLowerCase();
  };
}

/**
 * The whole `dokkaa` command tree. Parsing a command line hands what it asks for to
 * `parsed` and does nothing else; `--help` output and commander's errors go to `output`.
 */
export function buildProgram(parsed: (invocation: Invocation) => void, output: Output = PROCESS_OUTPUT): Command {
  const program = new Command('dokkaa').enablePositionalOptions().version(VERSION, '--version', 'print the version');
  program.helpInformation = () => `${HELP}\n`;
  program.command('version').description('print the version').action(() => parsed({ command: 'print', text: VERSION }));

  const server = (command: 'up' | 'agent' | 'controller', description: string) => {
    const cmd = withSettings(program.command(command).description(description), SERVER_SETTINGS);
    cmd.action(() => parsed({ command, flags: settingFlags(cmd, SERVER_SETTINGS) }));
  };
  server('up', 'the agent and the controllers of this host in one foreground process; without --etcd or DOKKAA_ETCD, and if nothing answers at 127.0.0.1:2379, it starts etcd as a child (data in $DOKKAA_DATA_DIR/etcd, default /var/lib/dokkaa/up/etcd)');
  server('agent', "one host's part: node lease, partition fence, node runner, service registrar");
  server('controller', 'the cluster-wide part: scheduler, link injector, status, run by whichever controller is elected leader');

  /**
   * A command that talks to etcd only, with its own flags (`own`) listed before --etcd and
   * --prefix. `target` is its argument as its usage shows it; the command checks it (with
   * the messages it always had), so commander takes it as optional.
   */
  const client = (name: string, description: string, target?: string, own: (cmd: Command) => Command = (cmd) => cmd) => {
    const cmd = own(new Command(name).description(description));
    if (target) cmd.argument(target.startsWith('[') ? target : `[${target}]`).usage(`${target} [options]`);
    return withSettings(cmd, CLIENT_SETTINGS);
  };
  const flagsOf = (cmd: Command) => settingFlags(cmd, CLIENT_SETTINGS);

  const apply = client('apply', 'validate a manifest file and write it to apps/APP/NAME/manifest', undefined, (cmd) => cmd
    .usage('-f FILE --app APP [--name NAME] [options]')
    .option('-f, --file <FILE>', 'the manifest (JSON)')
    .option('--app <APP>', 'the app it belongs to')
    .option('--name <NAME>', 'its name in the app (default: the file name without extension)'));
  program.addCommand(apply.action((o: ApplyOptions) => parsed({ command: 'apply', flags: flagsOf(apply), options: { file: o.file, app: o.app, name: o.name } })));

  const del = client('delete', 'delete the manifest; its replicas keep their volumes unless --purge', 'APP/NAME', (cmd) => cmd
    .option('--purge', "remove its replicas' volumes too, once their containers are gone (also after an earlier delete)"));
  program.addCommand(del.action((target: string | undefined, o: { purge?: boolean }) => parsed({ command: 'delete', flags: flagsOf(del), target, options: { purge: !!o.purge } })));
  const volumes = client('volumes', "replicas' volumes: app/name, replica, volume, node, whether the replica is placed there (in use)", '[APP]', (cmd) => cmd.option('--json', 'print the rows'));
  program.addCommand(volumes.action((target: string | undefined, o: { json?: boolean }) => parsed({ command: 'volumes', flags: flagsOf(volumes), target, options: { json: !!o.json } })));
  const volumeRm = client('rm', "remove one volume of a replica that is not placed on the volume's node (its agent removes it)", 'APP/NAME/REPLICA/VOLUME', (cmd) => cmd
    .option('--node <NODE>', 'the node, when the replica has that volume on more than one'));
  program.addCommand(new Command('volume').description("one replica's volume")
    .addCommand(volumeRm.action((target: string | undefined, o: { node?: string }) => parsed({ command: 'volume rm', flags: flagsOf(volumeRm), target, options: o.node ? { node: o.node } : {} }))));
  for (const [command, description] of [
    ['describe', 'status, placements, replicas, routes, rollout and events'],
    ['rollback', "restore the previous version's spec (keeping the current scale)"],
  ] as const) {
    const cmd = client(command, description, 'APP/NAME');
    program.addCommand(cmd.action((target?: string) => parsed({ command, flags: flagsOf(cmd), target })));
  }

  const status = client('status', 'a table of the status records', '[APP[/NAME]]', (cmd) => cmd.option('--json', 'print the records (a single object for APP/NAME)'));
  program.addCommand(status.action((target: string | undefined, o: { json?: boolean }) => parsed({ command: 'status', flags: flagsOf(status), target, options: { json: !!o.json } })));

  const nodes = client('nodes', 'the live hosts (those holding a lease)', undefined, (cmd) => cmd.option('--json', 'print the node records'));
  program.addCommand(nodes.action((o: { json?: boolean }) => parsed({ command: 'nodes', flags: flagsOf(nodes), options: { json: !!o.json } })));

  const logs = client('logs', "a replica's output, from the Docker Engine of whichever host runs it", 'APP/NAME[/REPLICA]', (cmd) => cmd
    .option('-f, --follow', 'keep printing what it writes')
    .option('--tail <N>', 'how many of the last lines to print', nonNegativeInt('tail'), 100));
  program.addCommand(logs.action((target: string | undefined, o: { follow?: boolean; tail: number }) =>
    parsed({ command: 'logs', flags: flagsOf(logs), target, options: { follow: !!o.follow, tail: o.tail } })));

  const rolloutStatus = client('status', "wait for the rolling update to the manifest's current revision, printing progress", 'APP/NAME', (cmd) => cmd
    .option('--timeout <S>', 'seconds to wait before failing', (v: string) => positiveNumber('timeout', v), 600));
  const rolloutRestart = client('restart', "pin the image's tag to a digest again and roll every replica (restarts/APP/NAME), under the update policy", 'APP/NAME');
  program.addCommand(new Command('rollout').description('follow or restart a rolling update')
    .addCommand(rolloutStatus.action((target: string | undefined, o: { timeout: number }) =>
      parsed({ command: 'rollout status', flags: flagsOf(rolloutStatus), target, options: { timeoutSeconds: o.timeout } })))
    .addCommand(rolloutRestart.action((target: string | undefined) => parsed({ command: 'rollout restart', flags: flagsOf(rolloutRestart), target }))));
  const pullCmd = client('pull', "pull the manifest's image (its pinned digest) on every live, uncordoned node that matches its constraints, printing each node's progress; done when all have it", 'APP/NAME', (cmd) =>
    cmd.option('--timeout <S>', 'seconds to wait before failing (the pulls go on)', (v: string) => positiveNumber('timeout', v), 600));
  program.addCommand(pullCmd.action((target: string | undefined, o: { timeout: number }) => parsed({ command: 'pull', flags: flagsOf(pullCmd), target, options: { timeoutSeconds: o.timeout } })));

  for (const [command, description] of [
    ['cordon', 'no new placements on NODE; what runs there stays (maintenance/NODE)'],
    ['uncordon', 'NODE takes new placements again; ends a drain (a move in flight finishes)'],
  ] as const) {
    const cmd = client(command, description, 'NODE');
    program.addCommand(cmd.action((target?: string) => parsed({ command, flags: flagsOf(cmd), target })));
  }
  const timeout = (cmd: Command, what: string) => cmd.option('--timeout <S>', `seconds to watch before failing (${what} goes on)`, (v: string) => positiveNumber('timeout', v), 600);
  const drain = client('drain', "cordon NODE, then move its replicas elsewhere one at a time per manifest, start-first, printing progress; done when no movable replica is left. Ctrl-C or a timeout leaves it cordoned and draining: run drain again to watch", 'NODE', (cmd) =>
    timeout(cmd, 'the drain').option('--include-global', 'remove global replicas too (they are not moved: one runs on each node)'));
  program.addCommand(drain.action((target: string | undefined, o: { timeout: number; includeGlobal?: boolean }) =>
    parsed({ command: 'drain', flags: flagsOf(drain), target, options: { timeoutSeconds: o.timeout, includeGlobal: !!o.includeGlobal } })));
  const rebalanceCmd = client('rebalance', 'move replicas from the most to the least loaded nodes until the spread is as even as placement makes it, one at a time per manifest, start-first; nothing rebalances on its own', '[APP[/NAME]]', (cmd) =>
    timeout(cmd.option('--dry-run', 'print the moves, change nothing'), 'the rebalance'));
  program.addCommand(rebalanceCmd.action((target: string | undefined, o: { timeout: number; dryRun?: boolean }) =>
    parsed({ command: 'rebalance', flags: flagsOf(rebalanceCmd), target, options: { timeoutSeconds: o.timeout, dryRun: !!o.dryRun } })));

  const routes = client('routes', "the web router's table: each host name, the service it reaches and that service's ready endpoints; then names lost to a conflict", undefined, (cmd) =>
    cmd.option('--json', 'print the domain, the routes with their endpoints, and the conflicts'));
  program.addCommand(routes.action((o: { json?: boolean }) => parsed({ command: 'routes', flags: flagsOf(routes), options: { json: !!o.json } })));

  const routerSet = client('set', 'change the router settings (router/config)', undefined, (cmd) => cmd
    .usage('--domain D [options]')
    .requiredOption('--domain <D>', `the domain a web service is named under: <service>.<app>.D, and <app>.D for an app's only one (default ${DEFAULT_ROUTER_DOMAIN})`, hostName('--domain', false)));
  const routerShow = client('show', 'print the router settings (defaults marked)');
  program.addCommand(new Command('router').description('the web router settings')
    .addCommand(routerSet.action((o: { domain: string }) => parsed({ command: 'router set', flags: flagsOf(routerSet), options: { domain: o.domain } })))
    .addCommand(routerShow.action(() => parsed({ command: 'router show', flags: flagsOf(routerShow) }))));

  const policySet = client('set', "check an admission policy file (docs/policy.md) and write it to the policy key; a bad file writes nothing", undefined, (cmd) => cmd
    .usage('-f FILE [options]')
    .requiredOption('-f, --file <FILE>', 'the policy (JSON)'));
  const policyShow = client('show', 'print the stored policy, or why it is invalid');
  program.addCommand(new Command('policy').description("the cluster's admission policy (admins only)")
    .addCommand(policySet.action((o: { file: string }) => parsed({ command: 'policy set', flags: flagsOf(policySet), options: { file: o.file } })))
    .addCommand(policyShow.action(() => parsed({ command: 'policy show', flags: flagsOf(policyShow) }))));

  const certAdd = client('add', 'check a certificate and its key for HOST (parses, key matches, not expired, names cover HOST) and store them in certs/HOST', undefined, (cmd) => cmd
    .usage('HOST --cert FILE --key FILE [options]')
    .argument('<HOST>', 'the name it serves (*.name: one label under name)', hostName('HOST', true))
    .requiredOption('--cert <FILE>', 'the PEM certificate (a chain is fine, leaf first)')
    .requiredOption('--key <FILE>', 'the PEM private key, unencrypted'));
  const certList = client('list', 'the stored certificates: host, issuer, expiry (never the keys)', undefined, (cmd) => cmd.option('--json', 'print host, issuer, notAfter, daysLeft and updated'));
  const certRm = client('rm', 'delete the certificate of HOST', undefined, (cmd) => cmd.usage('HOST [options]').argument('<HOST>', 'as given to cert add', hostName('HOST', true)));
  program.addCommand(new Command('cert').description('TLS certificates the web router serves by SNI')
    .addCommand(certAdd.action((host: string, o: CertAddOptions) => parsed({ command: 'cert add', flags: flagsOf(certAdd), host, options: { cert: o.cert, key: o.key } })))
    .addCommand(certList.action((o: { json?: boolean }) => parsed({ command: 'cert list', flags: flagsOf(certList), options: { json: !!o.json } })))
    .addCommand(certRm.action((host: string) => parsed({ command: 'cert rm', flags: flagsOf(certRm), host }))));

  program.addCommand(labCommand((request) => parsed({ command: 'lab', request })));
  program.addCommand(pkiCommand((request) => parsed({ command: 'pki', request })));
  const keyInit = client('init', 'make the cluster key: its private half to FILE (0600), its public half to cluster-key', undefined, (cmd) => cmd
    .requiredOption('--out <FILE>', 'where the private key goes (a new file)'));
  program.addCommand(new Command('cluster-key').description('the key secrets and registry credentials are sealed to')
    .addCommand(keyInit.action((o: { out: string }) => parsed({ command: 'cluster-key init', flags: flagsOf(keyInit), options: { out: o.out } }))));
  const authSetupCmd = client('setup', 'etcd users and roles (admin, controller, node-NODE), then auth on', undefined, (cmd) => cmd
    .option('--node <NODE>', 'a node to make a role for (repeatable; default: the nodes with a record now)', (v: string, all: string[]) => [...all, v], [] as string[])
    .option('--no-enable', 'leave auth off'));
  const authAddNodeCmd = client('add-node', 'the etcd user and role of a new node', undefined, (cmd) => cmd.argument('<NODE>'));
  program.addCommand(new Command('auth').description('etcd authentication: who may read and write what (docs/security.md)')
    .addCommand(authSetupCmd.action((o: { node: string[]; enable: boolean }) => parsed({ command: 'auth setup', flags: flagsOf(authSetupCmd), options: { nodes: o.node, enable: o.enable } })))
    .addCommand(authAddNodeCmd.action((node: string) => parsed({ command: 'auth add-node', flags: flagsOf(authAddNodeCmd), node }))));
  const registryHost = (cmd: Command) => cmd.argument('<HOST>', 'the registry, as image references name it (host[:port]; docker.io for Docker Hub)', registryArgument);
  const regLogin = client('login', 'store credentials for HOST, sealed to the cluster key; agents pull with them', undefined, (cmd) => registryHost(cmd)
    .usage('HOST --username U --password-stdin [options]')
    .requiredOption('--username <U>', 'the user name')
    .requiredOption('--password-stdin', 'read the password from stdin (the only way: never on the command line)'));
  const regLogout = client('logout', 'delete the credentials of HOST', undefined, registryHost);
  const regList = client('list', 'registries with credentials: host and user name (never passwords)', undefined, (cmd) => cmd.option('--json', 'print host, username and updated'));
  program.addCommand(new Command('registry').description('credentials for private registries')
    .addCommand(regLogin.action((host: string, o: { username: string }) => parsed({ command: 'registry login', flags: flagsOf(regLogin), host, options: { username: o.username } })))
    .addCommand(regLogout.action((host: string) => parsed({ command: 'registry logout', flags: flagsOf(regLogout), host })))
    .addCommand(regList.action((o: { json?: boolean }) => parsed({ command: 'registry list', flags: flagsOf(regList), options: { json: !!o.json } }))));
  for (const [kind, description] of [
    ['secret', 'secrets: sealed to the cluster key, re-sealed to each host that runs a replica using them, files on its tmpfs'],
    ['config', 'config files: stored in the clear, delivered as secrets are'],
  ] as const) {
    const set = client('set', `store a new version of ${kind} NAME of APP (its users roll)`, 'APP/NAME', (cmd) => cmd
      .option('--from-file <F>', 'the value is the file\'s content')
      .option('--from-literal <V>', 'the value is V')
      .option('--from-stdin', 'the value is stdin, byte for byte'));
    const list = client('list', `${kind}s: name, version, size, users (never values)`, '[APP]', (cmd) => cmd.option('--json', 'print app, name, version, size, updated and users'));
    const rm = client('rm', `delete ${kind} NAME of APP`, 'APP/NAME');
    program.addCommand(new Command(kind).description(description)
      .addCommand(set.action((target: string | undefined, o: ValueSource) => parsed({ command: 'file set', kind, flags: flagsOf(set), target, source: { ...(o.fromFile !== undefined ? { fromFile: o.fromFile } : {}), ...(o.fromLiteral !== undefined ? { fromLiteral: o.fromLiteral } : {}), ...(o.fromStdin ? { fromStdin: true } : {}) } })))
      .addCommand(list.action((app: string | undefined, o: { json?: boolean }) => parsed({ command: 'file list', kind, flags: flagsOf(list), ...(app !== undefined ? { app } : {}), options: { json: !!o.json } })))
      .addCommand(rm.action((target: string | undefined) => parsed({ command: 'file rm', kind, flags: flagsOf(rm), target }))));
  }
  program.command('completion').description('print a bash completion script (source <(dokkaa completion))').action(() => parsed({ command: 'print', text: bashCompletion(program) }));

  forEachCommand(program, [], (cmd, path) => {
    cmd
      .exitOverride()
      .configureOutput({ writeOut: output.out, writeErr: output.err })
      .showHelpAfterError(`(see ${['dokkaa', ...path, '--help'].join(' ')})`);
    for (const option of cmd.options) if (option.required) refuseFlagValues(option);
  });
  return program;
}

function forEachCommand(cmd: Command, path: string[], fn: (cmd: Command, path: string[]) => void): void {
  fn(cmd, path);
  for (const sub of cmd.commands) forEachCommand(sub, [...path, sub.name()], fn);
}

/** `--node --etcd URL` lacks the node's value: refuse it instead of naming the node "--etcd". */
function refuseFlagValues(option: Option): void {
  const parse = option.parseArg;
  const flag = option.long ?? option.short;
  option.argParser((value: string, before: unknown) => {
    if (/^--./.test(value)) throw new BadValueError(`${flag}: expected a value, got the flag ${value}`);
    return parse ? parse(value, before) : value;
  });
}

/**
 * Parses a command line (without `node dokkaa`). Throws a CommanderError after printing
 * help (exit code 0) or a usage error, and a BadValueError for a flag's bad value.
 */
export function parseCommandLine(argv: readonly string[], output: Output = PROCESS_OUTPUT): Invocation {
  let invocation: Invocation | undefined;
  // Alone, `dokkaa` and `dokkaa lab` print their overview to stdout, as they always did.
  const args = argv.length === 0 ? ['help'] : argv.length === 1 && argv[0] === 'lab' ? ['lab', 'help'] : [...argv];
  buildProgram((i) => (invocation = i), output).parse(args, { from: 'user' });
  if (!invocation) throw new Error(`no command ran for ${JSON.stringify(argv)}`);
  return invocation;
}

/** How a failed command ends: its exit code and what to print on stderr (commander printed its own). */
export function failure(err: unknown): { code: number; message?: string } {
  if (err instanceof CommanderError) return { code: err.exitCode === 0 ? 0 : 2 };
  if (err instanceof BadValueError) return { code: 2, message: `error: ${err.message}` };
  if (err instanceof UsageError) return { code: 1, message: err.message };
  return { code: 1, message: `error: ${(err as Error).message}` };
}
