import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Docker from 'dockerode';
import { tryRun } from './exec.js';
import type { NodeLayout } from './lab-layout.js';
import { netnsPath } from './netns.js';
import { isOurs, pidGone, processesInContainers, processesMentioning, readPidFile, recordOf, spawnDetached, stopProcess, waitFor, type ProcessRecord } from './processes.js';

/**
 * One lab host's Docker Engine: a dockerd in the host's network namespace with its own data
 * root, exec root and socket under the node's state dir, and what the lab does through its
 * API (ping, image import, counting and removing containers).
 */

/** dockerd's command line; it is also what identifies the process later (see isOurs). */
export function dockerdArgv(node: NodeLayout): string[] {
  return ['dockerd', '--data-root', node.dataRoot, '--exec-root', node.execRoot, '-H', `unix://${node.dockerSocket}`, '--pidfile', node.dockerPidFile];
}

/** A client for one engine. Short timeout: it is used for probes and small calls. */
export function engineClient(socketPath: string, timeoutMs = 5_000): Docker {
  return new Docker({ socketPath, timeout: timeoutMs });
}

export async function enginePing(socketPath: string): Promise<boolean> {
  if (!existsSync(socketPath)) return false;
  try {
    await engineClient(socketPath, 2_000).ping();
    return true;
  } catch {
    return false;
  }
}

/** The running dockerd of a node: the recorded one, else whatever its pid file names, if it is ours. */
export function currentDockerd(node: NodeLayout, recorded: ProcessRecord | undefined): ProcessRecord | undefined {
  if (isOurs(recorded)) return recorded;
  const fromPidFile = recordOf(readPidFile(node.dockerPidFile));
  const argv = dockerdArgv(node);
  return fromPidFile && isOurs({ pid: fromPidFile.pid, argv }) ? { pid: fromPidFile.pid, argv } : undefined;
}

/**
 * Starts the node's dockerd inside its netns. `nsenter --net` rather than `ip netns exec`:
 * the latter remounts /sys for the new namespace and dockerd then fails ("Devices cgroup
 * isn't mounted"). nsenter execs dockerd, so the pid we get is dockerd's.
 */
export async function startDockerd(node: NodeLayout): Promise<ProcessRecord> {
  mkdirSync(node.dataRoot, { recursive: true });
  mkdirSync(node.execRoot, { recursive: true });
  // The caller checked that no dockerd of this node runs. If a previous one died hard, its
  // shims and containers still run unsupervised; a new dockerd would find them half-known.
  // Start clean: they die as they would have with their engine.
  await killEngineLeftovers(node);
  // dockerd refuses to start while its pid file names a live process; ours is not running,
  // so a leftover file is stale.
  rmSync(node.dockerPidFile, { force: true });
  const argv = dockerdArgv(node);
  const pid = await spawnDetached('nsenter', [`--net=${netnsPath(node.netns)}`, ...argv], { log: node.dockerLog });
  return { pid, argv };
}

/** Waits until the engine answers; fails early, with its log tail, if dockerd exits. */
export async function waitEngine(node: NodeLayout, rec: ProcessRecord, timeoutMs = 30_000): Promise<void> {
  let exited = false;
  const ready = await waitFor(async () => {
    if (await enginePing(node.dockerSocket)) return true;
    // Right after spawn the pid may still be nsenter, before it execs dockerd.
    exited = pidGone(rec.pid);
    return exited;
  }, timeoutMs, 200);
  if (ready && !exited) return;
  throw new Error(`${node.name}: dockerd ${exited ? 'exited' : `not ready after ${timeoutMs / 1000} s`}; last lines of ${node.dockerLog}:\n${tail(node.dockerLog, 15)}`);
}

export function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * Puts the local image on the node's engine: scripts/lib/build-image.sh imports it from the
 * checkout's root filesystem tarball (built once, named after its inputs) unless the engine
 * already has that very build. Nothing comes from the machine's own engine, so a lab never
 * depends on what that engine holds. Returns whether it imported.
 */
export async function ensureLocalImage(node: NodeLayout, repo: string): Promise<boolean> {
  const r = await tryRun('bash', [join(repo, 'scripts', 'lib', 'build-image.sh'), `unix://${node.dockerSocket}`], 120_000);
  if (!r.ok) throw new Error(`${node.name}: could not put the local image on its engine (exit ${r.code ?? '?'}): ${r.stderr.trim()}`);
  return r.stderr.includes('importing');
}

/** Running containers on the engine, undefined if it does not answer. */
export async function runningContainers(socketPath: string): Promise<number | undefined> {
  if (!existsSync(socketPath)) return undefined;
  try {
    return (await engineClient(socketPath).listContainers({ all: false })).length;
  } catch {
    return undefined;
  }
}

/** `docker rm -f` of every container on the engine; returns how many went. */
export async function removeAllContainers(socketPath: string): Promise<number> {
  const docker = engineClient(socketPath, 30_000);
  const all = await docker.listContainers({ all: true });
  await Promise.all(all.map((c) => docker.getContainer(c.Id).remove({ force: true, v: true }).catch((err: unknown) => {
    if ((err as { statusCode?: number }).statusCode !== 404) throw err;
  })));
  return all.length;
}

/**
 * Stops the node's dockerd: SIGTERM (dockerd then stops its containers and its containerd),
 * up to `graceMs`, then SIGKILL. After a SIGKILL the engine's containerd and shims outlive
 * it; see killEngineLeftovers. Returns how dockerd ended and how many leftovers were killed.
 */
export async function stopDockerd(node: NodeLayout, recorded: ProcessRecord | undefined, graceMs = 20_000): Promise<{ how: 'gone' | 'exited' | 'killed'; leftovers: number }> {
  const how = await stopProcess(currentDockerd(node, recorded), graceMs);
  const leftovers = how === 'killed' || how === 'gone' ? await killEngineLeftovers(node) : 0;
  return { how, leftovers };
}

/**
 * What a SIGKILLed dockerd leaves running: the shims (and a containerd) that mention the
 * node's exec root, and below them the containers' own processes, which do not mention it
 * and are found by container id in their cgroup. The ids come from the engine's data root
 * (every container it has) and the shims' `-id` arguments. Containers first: a shim killed
 * first would orphan them. Also removes the containers' now empty cgroup directories.
 */
export async function killEngineLeftovers(node: NodeLayout): Promise<number> {
  const shims = processesMentioning(node.execRoot);
  const ids = new Set<string>();
  for (const p of shims) {
    const at = p.argv.indexOf('-id');
    if (at >= 0 && p.argv[at + 1]) ids.add(p.argv[at + 1]!);
  }
  try {
    for (const id of readdirSync(join(node.dataRoot, 'containers'))) ids.add(id);
  } catch {
    // no containers dir: the engine never ran or its data is gone
  }
  const inContainers = processesInContainers([...ids]);
  for (const p of inContainers) await stopProcess(p, 0, 'SIGKILL');
  for (const p of shims) await stopProcess(p, 2_000, 'SIGKILL');
  for (const id of ids) removeContainerCgroups(id);
  return inContainers.length + shims.length;
}

/** rmdir of a container's cgroup directories (v1 hierarchies and v2), if empty and present. */
function removeContainerCgroups(id: string): void {
  if (!/^[0-9a-f]{64}$/.test(id)) return;
  const roots = ['/sys/fs/cgroup', ...(() => { try { return readdirSync('/sys/fs/cgroup').map((d) => join('/sys/fs/cgroup', d)); } catch { return []; } })()];
  for (const root of roots) {
    try {
      rmdirSync(join(root, 'docker', id));
    } catch {
      // absent, or not empty (then something still runs there and we leave it be)
    }
  }
}

/** Mount points at or below `dir` (from this mount namespace's mountinfo), deepest first. */
export function mountsUnder(dir: string): string[] {
  const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  const points = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((p): p is string => !!p)
    .map(unescape)
    .filter((p) => p === dir || p.startsWith(`${dir}/`));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

/**
 * Unmounts what dockerd left mounted under `dir` (overlay layers, shm, netns files of
 * containers) so that the directory can be deleted. Lazy unmount as a fallback for busy mounts.
 * Returns what is still mounted.
 */
export async function unmountUnder(dir: string): Promise<string[]> {
  for (const point of mountsUnder(dir)) {
    if (!(await tryRun('umount', [point])).ok) await tryRun('umount', ['-l', point]);
  }
  return mountsUnder(dir);
}
