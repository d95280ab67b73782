import { execFile, spawn, type ChildProcess } from 'node:child_process';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import type { Container, ContainerModule } from 'inversify';
import { AGENT_MODULES, buildContainer, CONTROLLER_MODULES } from '../../../cli/process-container.js';
import { createLogger } from '../../../src/logging.js';
import { Manager } from '../../../src/manager.js';
import type { Config } from '../../../src/config.js';
import { after, before } from 'node:test';
import { decodeRecord, NodeRecord } from '../../../api/records.js';
import { waitFor, World } from './world.js';

export const ALL_MODULES = [...AGENT_MODULES, ...CONTROLLER_MODULES];
export { AGENT_MODULES, CONTROLLER_MODULES };

/** Dokkaa in this process, built from the real modules, as `dokkaa up` runs it. */
export class InProcessDokkaa {
  readonly container: Container;
  readonly manager: Manager;

  private constructor(config: Config, modules: readonly ContainerModule[]) {
    this.container = buildContainer(config, createLogger(config.logLevel), modules);
    this.manager = this.container.get(Manager);
  }

  static async start(config: Config, modules: readonly ContainerModule[] = ALL_MODULES): Promise<InProcessDokkaa> {
    const d = new InProcessDokkaa(config, modules);
    await d.manager.start();
    return d;
  }

  async stop(): Promise<void> {
    await this.manager.stop();
    await this.container.unbindAllAsync();
  }
}

const BIN = fileURLToPath(new URL('../../../../bin/dokkaa.js', import.meta.url));

/** The real `dokkaa` CLI as a child process, pointed at the world's etcd prefix: its exit code and output. */
export async function dokkaaCli(world: World, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [BIN, ...args, '--etcd', world.etcdUrl, '--prefix', world.prefix]);
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** `dokkaa <command>` as a child process (for SIGKILL and restarts). */
export class DokkaaProcess {
  private constructor(readonly child: ChildProcess, readonly output: string[]) {}

  /** `extra`: flags beyond what `config` gives (e.g. an agent's --capacity-memory). */
  static spawn(command: 'agent' | 'controller' | 'up', config: Config, extra: readonly string[] = []): DokkaaProcess {
    const args = [
      BIN, command,
      '--etcd', config.etcd.join(','),
      '--prefix', config.prefix,
      '--docker', config.docker,
      '--node', config.node,
      '--lease-ttl', String(config.leaseTtlSeconds),
      '--resync', String(config.resyncSeconds),
      '--log-level', 'info',
      ...(config.address ? ['--address', config.address] : []),
      ...extra,
    ];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const output: string[] = [];
    child.stdout!.on('data', (d: Buffer) => output.push(d.toString()));
    child.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
    return new DokkaaProcess(child, output);
  }

  /** Whether the process has not exited (nor been killed by a signal). */
  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  async kill(signal: NodeJS.Signals): Promise<number | null> {
    if (!this.alive) return this.child.exitCode;
    const exited = new Promise<number | null>((resolve) => this.child.once('exit', (code) => resolve(code)));
    this.child.kill(signal);
    return exited;
  }
}

/**
 * The world's agent as a child process, up once its node record (with its sealing key) is.
 * The DNS server and the web router bind ports one per machine: off, as in the other e2e tests.
 */
export async function spawnAgent(world: World): Promise<DokkaaProcess> {
  const config = world.config();
  const agent = DokkaaProcess.spawn('agent', config, ['--dns-port', '0', '--router-http-port', '0', '--router-https-port', '0', '--state-dir', config.stateDir!]);
  try {
    await waitFor('the agent\'s node record with its sealing key', async () => {
      const kv = await world.etcd.get(world.keys.node(world.node)).string();
      return kv && decodeRecord(NodeRecord, kv)?.sealingKey;
    }, 120_000); // a bound, not a target: node alone takes 20 s to start on a loaded 2-CPU machine
  } catch (err) {
    await agent.kill('SIGKILL');
    throw new Error(`${(err as Error).message}\n${agent.output.join('').slice(-2000)}`);
  }
  return agent;
}

/**
 * Registers before/after hooks in the enclosing describe: a fresh World (its own key
 * prefix and node name) and Dokkaa started in this process on it, stopped and cleaned up
 * after. Returns the world and a getter for the running Dokkaa.
 */
export function useDokkaa(overrides: Partial<Config> = {}, modules: readonly ContainerModule[] = ALL_MODULES): { world: World; dokkaa: () => InProcessDokkaa } {
  const world = new World();
  let dokkaa: InProcessDokkaa | undefined;
  before(async () => {
    dokkaa = await InProcessDokkaa.start(world.config(overrides), modules);
  });
  after(async () => {
    await dokkaa?.stop();
    await world.cleanup();
  });
  return { world, dokkaa: () => dokkaa! };
}

/**
 * Like useDokkaa, but split as a cluster with a private registry runs: the controllers in this
 * process, given `controllerOverrides` (the cluster key), and the agent a child process given
 * no cluster key at all, so what it pulls with must reach it sealed to its own key. The agent
 * is up (its node record carries its sealing key) before the describe's own hooks go on.
 */
export function useControllersAndAgentProcess(controllerOverrides: Partial<Config>): { world: World; agent: () => DokkaaProcess } {
  const world = new World();
  let controllers: InProcessDokkaa | undefined;
  let agent: DokkaaProcess | undefined;
  before(async () => {
    controllers = await InProcessDokkaa.start(world.config(controllerOverrides), CONTROLLER_MODULES);
    agent = await spawnAgent(world);
  });
  after(async () => {
    await agent?.kill('SIGTERM');
    await controllers?.stop();
    await world.cleanup();
  });
  return { world, agent: () => agent! };
}

/** Asserts that a `dokkaa` child process was given no cluster key: neither flag nor environment names one. */
export function assertNoClusterKey(process: DokkaaProcess): void {
  const pid = process.child.pid!;
  const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
  assert.ok(cmdline.some((a) => a === 'agent'), `pid ${pid} is the agent: ${cmdline.join(' ')}`);
  assert.deepEqual(cmdline.filter((a) => a.includes('cluster-key') || a.endsWith('cluster.key')), [], 'no --cluster-key-file');
  assert.deepEqual(environ.filter((e) => e.startsWith('DOKKAA_CLUSTER_KEY_FILE=')), [], 'no DOKKAA_CLUSTER_KEY_FILE');
}
