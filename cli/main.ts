import { loadConfig, type Config } from '../src/config.js';
import { createLogger, type Logger } from '../src/logging.js';
import { apply, nodes, status } from './client-commands.js';
import { describe, logs, rollback, rolloutStatus } from './lifecycle-commands.js';
import { etcdReachable, startLocalEtcd } from '../src/etcd/local-etcd.js';
import { etcdClientOptions } from '../src/etcd/etcd-tls.js';
import { failure, parseCommandLine, type Invocation } from './program.js';
import { remove, volumeRemove, volumesList } from './volume-commands.js';
import { runLab } from './lab-commands.js';
import { runPki } from './pki-commands.js';
import { maintenanceCommands } from './maintenance-commands.js';
import { pull, rolloutRestart } from './image-commands.js';
import { authAddNode, authSetup } from './auth-commands.js';
import { clusterKeyInit, registryList, registryLogin, registryLogout } from './registry-commands.js';
import { fileList, fileRemove, fileSet, valueOf } from './secret-commands.js';
import { policySet, policyShow } from './policy-commands.js';
import { certAdd, certList, certRemove, routerSet, routerShow, routes } from './router-commands.js';

async function run(invocation: Invocation): Promise<void> {
  switch (invocation.command) {
    case 'print':
      return void console.log(invocation.text);
    case 'lab':
      return void console.log(await runLab(invocation.request));
    case 'pki':
      return void console.log(runPki(invocation.request, new Date()));
  }
  const config = loadConfig(invocation.flags);
  switch (invocation.command) {
    case 'apply':
      return void console.log(await apply(invocation.options, config));
    case 'delete':
      return void console.log(await remove(invocation.target, config, invocation.options));
    case 'volumes':
      return void console.log(await volumesList(invocation.target, invocation.options, config));
    case 'volume rm':
      return void console.log(await volumeRemove(invocation.target, invocation.options, config));
    case 'status':
      return void console.log(await status(invocation.target, invocation.options, config));
    case 'nodes':
      return void console.log(await nodes(invocation.options, config));
    case 'describe':
      return void console.log(await describe(invocation.target, config));
    case 'logs':
      return void (await logs(invocation.target, invocation.options, config, (c) => process.stdout.write(c)));
    case 'rollback':
      return void console.log(await rollback(invocation.target, config));
    case 'rollout status':
      return void console.log(await rolloutStatus(invocation.target, invocation.options, config, (line) => console.log(line)));
    case 'rollout restart':
      return void console.log(await rolloutRestart(invocation.target, config));
    case 'pull':
      return void console.log(await pull(invocation.target, invocation.options, config, (line) => console.log(line)));
    case 'cordon':
    case 'uncordon':
      return void console.log(await maintenanceCommands[invocation.command](invocation.target, config));
    case 'drain':
      return void console.log(await maintenanceCommands.drain(invocation.target, invocation.options, config, (line) => console.log(line)));
    case 'rebalance':
      return void console.log(await maintenanceCommands.rebalance(invocation.target, invocation.options, config, (line) => console.log(line)));
    case 'routes':
      return void console.log(await routes(invocation.options, config));
    case 'router set':
      return void console.log(await routerSet(invocation.options, config));
    case 'router show':
      return void console.log(await routerShow(config));
    case 'policy set':
      return void console.log(await policySet(invocation.options, config));
    case 'policy show':
      return void console.log(await policyShow(config));
    case 'cert add':
      return void console.log(await certAdd(invocation.host, invocation.options, config));
    case 'cert list':
      return void console.log(await certList(invocation.options, config));
    case 'cert rm':
      return void console.log(await certRemove(invocation.host, config));
    case 'auth setup':
      return void console.log(await authSetup(invocation.options, config));
    case 'auth add-node':
      return void console.log(await authAddNode(invocation.node, config));
    case 'cluster-key init':
      return void console.log(await clusterKeyInit(invocation.options, config));
    case 'registry login':
      return void console.log(await registryLogin(invocation.host, { ...invocation.options, password: await readStdin() }, config));
    case 'registry logout':
      return void console.log(await registryLogout(invocation.host, config));
    case 'registry list':
      return void console.log(await registryList(invocation.options, config));
    case 'file set':
      return void console.log(await fileSet(invocation.kind, invocation.target, await valueOf(invocation.kind, invocation.source, readStdinBytes), config));
    case 'file list':
      return void console.log(await fileList(invocation.kind, invocation.app, invocation.options, config));
    case 'file rm':
      return void console.log(await fileRemove(invocation.kind, invocation.target, config));
    case 'agent':
      return serveParts(['agent'], config, createLogger(config.logLevel));
    case 'controller':
      return serveParts(['controller'], config, createLogger(config.logLevel));
    case 'up': {
      const log = createLogger(config.logLevel);
      let stopEtcd: (() => Promise<void>) | undefined;
      if (invocation.flags.etcd === undefined && !process.env.DOKKAA_ETCD && !(await etcdReachable(etcdClientOptions(config, new Date())))) {
        const etcd = await startLocalEtcd(process.env.DOKKAA_DATA_DIR ? `${process.env.DOKKAA_DATA_DIR}/etcd` : '/var/lib/dokkaa/up/etcd', 2379, log);
        config.etcd = [etcd.url];
        stopEtcd = etcd.stop;
      }
      // One host: etcd may stay on loopback in the clear; more hosts need TLS (docs/security.md).
      if (!config.etcdCert) log.warn('etcd without TLS: fine on loopback for one host; use https:// and --etcd-ca/--etcd-cert/--etcd-key for more', { etcd: config.etcd });
      return serveParts(['agent', 'controller'], config, log, stopEtcd);
    }
  }
}

/**
 * Runs the agent's or the controllers' part (or both) until stopped (serve.ts). Their code,
 * every controller and inversify, is loaded only here: a one-shot command starts without it,
 * in about two thirds of the time.
 */
async function serveParts(parts: ('agent' | 'controller')[], config: Config, log: Logger, onStopped?: () => Promise<void>): Promise<void> {
  const [{ serve }, { AGENT_MODULES, CONTROLLER_MODULES }] = await Promise.all([import('./serve.js'), import('./process-container.js')]);
  return serve(config, log, parts.flatMap((p) => (p === 'agent' ? AGENT_MODULES : CONTROLLER_MODULES)), onStopped);
}

Promise.resolve()
  .then(() => run(parseCommandLine(process.argv.slice(2))))
  .then(
    () => process.exit(0),
    (err: unknown) => {
      const { code, message } = failure(err);
      if (message !== undefined) console.error(message);
      process.exit(code);
    },
  );

/** The whole of stdin, less the line end a `echo` or a file adds. */
async function readStdin(): Promise<string> {
  return (await readStdinBytes()).toString().replace(/\r?\n$/, '');
}

/** The whole of stdin, as it came. */
async function readStdinBytes(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
