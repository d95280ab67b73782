import { Etcd3 } from 'etcd3';
import { labDown, labEtcdOptions, labLayout, labUp, readState, type LabState } from '../lab/index.js';
import { Engines } from './engines.js';
import { DokkaaSystem, FloorSystem, SwarmSystem } from './systems.js';

/**
 * The bench's own lab (`dokkaa lab --name bench`), never the user's default one;
 * DOKKAA_BENCH_LAB names another, so that two benches on one machine do not tear down each other's.
 */
export const BENCH_LAB = process.env.DOKKAA_BENCH_LAB || 'bench';

export interface BenchLab {
  name: string;
  state: LabState;
  etcd: Etcd3;
  engines: Engines;
  dokkaa: DokkaaSystem;
  floor: FloorSystem;
  /** The floor for a registry's image no host has: each host pulls once, then creates. */
  floorOf(image: string): FloorSystem;
  swarm: SwarmSystem;
  /** Progress lines of the lab functions (kept, printed on failure). */
  say: (line: string) => void;
  lines: string[];
  /** The state file as it is now (kill/restore rewrite it). */
  current(): LabState;
}

export function log(line: string): void {
  console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}`);
}

/**
 * Brings up a fresh 3-host lab (anything left by an earlier, crashed bench is removed
 * first), runs `fn`, and always tears the lab down again: swarm left, containers, engines,
 * agents, controller, etcd, namespaces.
 */
export async function withBenchLab<T>(opts: { nodes: number; ttlSeconds: number }, fn: (lab: BenchLab) => Promise<T>): Promise<T> {
  const lines: string[] = [];
  const say = (l: string) => lines.push(`${new Date().toISOString()} ${l}`);
  log(`lab ${BENCH_LAB}: removing leftovers, bringing up ${opts.nodes} hosts (lease TTL ${opts.ttlSeconds} s)`);
  await labDown(BENCH_LAB, { say });
  let engines: Engines | undefined;
  let etcd: Etcd3 | undefined;
  let swarm: SwarmSystem | undefined;
  try {
    const up = await labUp({ name: BENCH_LAB, nodes: opts.nodes, ttlSeconds: opts.ttlSeconds, controllers: 1, logLevel: 'info', say });
    log(`lab up in ${(up.elapsedMs / 1000).toFixed(1)} s; etcd ${up.state.etcdClientUrl}`);
    const state = up.state;
    engines = new Engines(state.nodes.map((n) => ({ name: n.name, socket: n.dockerSocket })));
    await engines.start();
    etcd = new Etcd3(labEtcdOptions(state, { dialTimeout: 3_000 }));
    swarm = new SwarmSystem(state.nodes.map((n) => ({ name: n.name, socket: n.dockerSocket, address: n.address })));
    const lab: BenchLab = {
      name: BENCH_LAB,
      state,
      etcd,
      engines,
      dokkaa: new DokkaaSystem(etcd, state.prefix),
      floor: new FloorSystem(engines),
      floorOf: (image) => new FloorSystem(engines!, { image, cold: true }),
      swarm,
      say,
      lines,
      current: () => readState(labLayout(BENCH_LAB))!,
    };
    return await fn(lab);
  } catch (err) {
    console.error(lines.slice(-40).join('\n'));
    throw err;
  } finally {
    log(`lab ${BENCH_LAB}: leaving swarm and tearing down`);
    await swarm?.leave().catch(() => undefined);
    engines?.stop();
    etcd?.close();
    const down = await labDown(BENCH_LAB, { say });
    if (down.problems.length) log(`lab teardown problems:\n  ${down.problems.join('\n  ')}`);
    else log(`lab ${BENCH_LAB} removed (${(down.elapsedMs / 1000).toFixed(1)} s)`);
  }
}
