import { readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { engineClient, removeAllContainers } from './lab-engine.js';
import { labDown } from './lab-down.js';
import { labLayout, nodeLayout } from './lab-layout.js';
import { labUp } from './lab-up.js';
import { netnsPath } from './netns.js';
import { labEtcdOptions } from './lab-pki.js';

/**
 * The test suite's own Docker Engine and etcd: a bare one-host lab (network namespace,
 * dockerd with its own data root, exec root, socket and bridge; etcd on the lab bridge, not
 * on 2379), brought up from nothing for each run and removed after it. The suite runs inside
 * the host's namespace, as an agent runs on a real host, so nothing it does reaches the
 * machine's own engine, its bridge or a `dokkaa up` beside it.
 */

export const DEFAULT_TEST_LAB = 'test';

/** What the set-up found, written to `test-env.json` in the lab's state dir for the tests to check. */
export interface TestEnv {
  lab: string;
  /** etcd client URL (the lab bridge's address). */
  etcd: string;
  /** The engine's socket, `unix://...`. */
  docker: string;
  /** The network namespace the suite runs in (the host's). */
  netns: string;
  dataRoot: string;
  /** The engine's ID, made with its data root: a new one each run. */
  engineId: string;
  /** What the engine and etcd held when the run began (checked to be empty before writing). */
  containersAtStart: number;
  imagesAtStart: string[];
  etcdRevisionAtStart: string;
  /** The network namespace the set-up ran in (the machine's), as `net:[inode]`. */
  setupNetns: string;
  startedAt: string;
}

export function testEnvFile(stateDir: string): string {
  return join(stateDir, 'test-env.json');
}

export function readTestEnv(file: string): TestEnv {
  return JSON.parse(readFileSync(file, 'utf8')) as TestEnv;
}

/**
 * Removes whatever an earlier run left under this lab's name (by pid file and by name, see
 * labDown), brings the bare lab up, and fails unless the engine and etcd are empty: no
 * container, no image but the local one just imported, no key ever written.
 */
export async function testEnvUp(name: string, say: (line: string) => void): Promise<TestEnv> {
  const startedAt = new Date().toISOString();
  await labDown(name, { say });
  // Plain http: the suite's tests reach etcd by URL alone (DOKKAA_TEST_ETCD); TLS is proven on multi-host labs.
  const { state } = await labUp({ name, nodes: 1, bare: true, tls: false, logLevel: 'info', say });
  const node = state.nodes[0]!;
  const info = (await engineClient(node.dockerSocket).info()) as { ID: string; Containers: number; DockerRootDir: string };
  const images = (await engineClient(node.dockerSocket).listImages()).flatMap((i) => i.RepoTags ?? []);
  const etcd = new Etcd3(labEtcdOptions(state, { dialTimeout: 3_000 }));
  let revision: string;
  let keys: number;
  try {
    const res = await etcd.getAll().prefix('').exec();
    revision = res.header.revision;
    keys = res.kvs.length;
  } finally {
    etcd.close();
  }
  const problems = [
    ...(info.Containers !== 0 ? [`the engine has ${info.Containers} containers`] : []),
    ...(info.DockerRootDir !== node.dataRoot ? [`the engine's data root is ${info.DockerRootDir}, not ${node.dataRoot}`] : []),
    ...(images.join() !== 'dokkaa/busybox:latest' ? [`the engine has images ${JSON.stringify(images)}, expected only dokkaa/busybox:latest`] : []),
    ...(keys !== 0 || revision !== '1' ? [`etcd is not empty (${keys} keys, revision ${revision})`] : []),
  ];
  if (problems.length) throw new Error(`test environment ${name} did not start empty: ${problems.join('; ')}`);
  const env: TestEnv = {
    lab: name,
    etcd: state.etcdClientUrl,
    docker: `unix://${node.dockerSocket}`,
    netns: node.netns,
    dataRoot: node.dataRoot,
    engineId: info.ID,
    containersAtStart: info.Containers,
    imagesAtStart: images,
    etcdRevisionAtStart: revision,
    setupNetns: readlinkSync('/proc/self/ns/net'),
    startedAt,
  };
  writeFileSync(testEnvFile(state.stateDir), `${JSON.stringify(env, null, 2)}\n`);
  return env;
}

/** Removes the containers first (a dockerd stopping with containers waits on each), then the lab. */
export async function testEnvDown(name: string, say: (line: string) => void): Promise<string[]> {
  const socket = nodeLayout(labLayout(name), 1).dockerSocket;
  const removed = await removeAllContainers(socket).catch(() => 0);
  if (removed) say(`removed ${removed} containers left by the tests`);
  return (await labDown(name, { say })).problems;
}

/** Whether this process runs in the named network namespace. */
export function inNetns(netns: string): boolean {
  const self = statSync('/proc/self/ns/net');
  const target = statSync(netnsPath(netns));
  return self.ino === target.ino && self.dev === target.dev;
}
