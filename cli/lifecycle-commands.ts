import Docker from 'dockerode';
import * as t from 'io-ts';
import { decodeRecord, EventRecord, NodeRecord, PlacementRecord, ReplicaRecord, RolloutRecord, StatusRecord } from '../api/records.js';
import type { Config } from '../src/config.js';
import { demuxFrames } from '../src/docker/log-frames.js';
import { UsageError, withStore } from './client-commands.js';
import { table } from '../src/table.js';
import { EventRecorder } from '../src/events/event-recorder.js';
import { SystemClock } from '../src/clock.js';
import { createLogger } from '../src/logging.js';
import { describeRoutes } from './router-commands.js';
import { listMatching, ofManifest } from '../src/etcd/list-matching.js';

function parseTarget(target: string | undefined, usage: string): { app: string; name: string; replica?: number } {
  const [app, name, replica] = (target ?? '').split('/');
  if (!app || !name) throw new UsageError(`usage: ${usage}`);
  return { app, name, ...(replica !== undefined ? { replica: Number(replica) } : {}) };
}

export interface RolloutStatusOptions {
  /** How long to wait for the rollout to complete before failing. */
  timeoutSeconds: number;
}

/** `dokkaa rollout status APP/NAME [--timeout SECONDS]`: waits for the rollout, printing progress. */
export async function rolloutStatus(target: string | undefined, options: RolloutStatusOptions, config: Config, out: (line: string) => void): Promise<string> {
  const { app, name } = parseTarget(target, 'dokkaa rollout status APP/NAME [--timeout SECONDS]');
  const timeoutMs = options.timeoutSeconds * 1000;
  return withStore(config, async (store, keys) => {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      const [r, s, m] = await Promise.all([store.get(keys.rollout(app, name)), store.get(keys.status(app, name)), store.get(keys.manifest(app, name))]);
      if (!m) throw new UsageError(`${app}/${name} not found`);
      const rollout = decodeRecord(RolloutRecord, r?.value);
      const status = decodeRecord(StatusRecord, s?.value);
      if (status?.phase === 'Invalid') throw new UsageError(`${app}/${name}: ${status.message}`);
      if (status?.phase === 'Forbidden' && status.observedRevision === m.modRevision) throw new UsageError(`${app}/${name}: forbidden by the cluster policy: ${status.message}`);
      const current = rollout && rollout.targetRevision === m.modRevision;
      const line = !current ? 'waiting for the scheduler to see the new revision' : `${rollout.phase}: ${rollout.message}`;
      if (line !== last) out((last = line));
      if (current && rollout.phase === 'Stalled') throw new UsageError(`rollout of ${app}/${name} stalled: ${rollout.message}`);
      if (current && rollout.phase === 'Complete' && status?.phase === 'Running' && status.observedRevision === m.modRevision) {
        return `rollout of ${app}/${name} to revision ${rollout.targetRevision} complete`;
      }
      await new Promise((res) => setTimeout(res, 250));
    }
    throw new UsageError(`timed out waiting for the rollout of ${app}/${name}`);
  });
}

/** `dokkaa rollback APP/NAME`: writes back the previous version's spec (keeping the current scale). */
export async function rollback(target: string | undefined, config: Config): Promise<string> {
  const { app, name } = parseTarget(target, 'dokkaa rollback APP/NAME');
  return withStore(config, async (store, keys) => {
    const [r, m] = await Promise.all([store.get(keys.rollout(app, name)), store.get(keys.manifest(app, name))]);
    if (!m) throw new UsageError(`${app}/${name} not found`);
    const rollout = decodeRecord(RolloutRecord, r?.value);
    // Mid-rollout (or stalled), back to the last stable version; after a completed one, to the one before.
    const to = rollout?.stable && rollout.stable.templateHash !== rollout.targetHash ? rollout.stable : rollout?.previous;
    if (!to) throw new UsageError(`${app}/${name} has no previous version to roll back to`);
    const restored = JSON.parse(to.manifest) as Record<string, unknown>;
    const currentScale = (decodeRecord(t.UnknownRecord, m.value) ?? {}).scale;
    if (typeof currentScale === 'number') restored.scale = currentScale;
    const ok = await store.putIfModRevision(keys.manifest(app, name), JSON.stringify(restored), m.modRevision);
    if (!ok) throw new UsageError(`${app}/${name} changed meanwhile; try again`);
    await new EventRecorder(store, keys, new SystemClock(), { ...config, node: 'cli' }, createLogger('error', true)).record(app, name, {
      type: 'Normal', reason: 'RolledBack', message: `rolled back to the spec of revision ${to.revision}`,
    });
    return `${app}/${name} rolled back to the spec of revision ${to.revision}`;
  });
}

/** `dokkaa describe APP/NAME`: status, placements, replicas, routes, rollout and events. */
export async function describe(target: string | undefined, config: Config): Promise<string> {
  const { app, name } = parseTarget(target, 'dokkaa describe APP/NAME');
  return withStore(config, async (store, keys) => {
    const [s, placements, replicas, rollout, events, routes] = await Promise.all([
      store.get(keys.status(app, name)),
      store.list(keys.placements),
      listMatching(store, keys.replicas, (k) => keys.parseReplica(k), ofManifest(app, name)),
      store.get(keys.rollout(app, name)),
      listMatching(store, keys.events, (k) => keys.parseEvent(k), ofManifest(app, name)),
      describeRoutes(store, keys, app, name),
    ]);
    const status = decodeRecord(StatusRecord, s?.value);
    const r = decodeRecord(RolloutRecord, rollout?.value);
    const lines = [`Name:       ${app}/${name}`];
    if (status) {
      lines.push(`Phase:      ${status.phase}`, `Ready:      ${status.running}/${status.desired} (updated ${status.updated ?? '-'})`, `Revision:   ${status.observedRevision}`, `Message:    ${status.message}`);
    }
    const pinned = r?.pin?.digest && status?.image?.endsWith(`@${r.pin.digest}`) ? r.pin : undefined;
    if (status?.image) lines.push(`Image:      ${pinned ? `${pinned.image} pinned to ${pinned.digest}` : status.image}${r?.pin?.unpinned ? ` (not pinned: ${r.pin.unpinned})` : ''}`);
    if (r) lines.push(`Rollout:    ${r.phase}: ${r.message}${r.previous ? ` (rollback restores revision ${r.previous.revision})` : ''}`);
    const placed = placements.kvs.map((kv) => decodeRecord(PlacementRecord, kv.value)).filter((p): p is PlacementRecord => !!p && p.app === app && p.name === name);
    const recs = replicas.map((kv) => decodeRecord(ReplicaRecord, kv.value)).filter((x): x is ReplicaRecord => !!x);
    lines.push('', 'Replicas:');
    lines.push(table(['REPLICA', 'NODE', 'STATE', 'READY', 'RESTARTS', 'EXIT', 'CONTAINER', 'SPEC'],
      placed.sort((a, b) => a.replica - b.replica).map((p) => {
        const rec = recs.find((x) => x.replica === p.replica && x.node === p.node);
        return [String(p.replica), p.node, rec?.state ?? 'pending', rec?.ready ? 'yes' : 'no', String(rec?.restarts ?? 0), rec?.exitCode !== undefined ? String(rec.exitCode) : '-', rec?.containerId?.slice(0, 12) ?? '-', `${p.templateHash}${rec && rec.templateHash !== p.templateHash ? ` (runs ${rec.templateHash})` : ''}`];
      })));
    for (const rec of recs.filter((x) => x.lastTermination)) {
      const { reason, exitCode, finishedAt } = rec.lastTermination!;
      lines.push('', `Last termination of replica ${rec.replica}: ${reason} (exit code ${exitCode}) at ${finishedAt}; ${rec.restarts} restart(s)`);
    }
    for (const rec of recs.filter((x) => x.lastLog?.length)) lines.push('', `Last output of replica ${rec.replica}:`, ...rec.lastLog!.map((l) => `  ${l}`));
    lines.push('', ...routes);
    const evs = events.map((kv) => decodeRecord(EventRecord, kv.value)).filter((e): e is EventRecord => !!e).sort((a, b) => a.time.localeCompare(b.time));
    lines.push('', 'Events:');
    lines.push(evs.length ? table(['TIME', 'TYPE', 'REASON', 'FROM', 'MESSAGE'], evs.slice(-30).map((e) => [e.time, e.type, e.reason, e.source, e.message])) : '  <none>');
    return lines.join('\n');
  });
}

export interface LogsOptions {
  /** Keep printing what the replica writes until it stops. */
  follow: boolean;
  /** How many of the last lines to print first. */
  tail: number;
}

/** `dokkaa logs APP/NAME[/REPLICA] [-f] [--tail N]`: a replica's output, from whichever host runs it. */
export async function logs(target: string | undefined, options: LogsOptions, config: Config, write: (chunk: Buffer) => void): Promise<string> {
  const { app, name, replica = 0 } = parseTarget(target, 'dokkaa logs APP/NAME[/REPLICA] [-f] [--tail N]');
  const { record, node } = await withStore(config, async (store, keys) => {
    // The record of the host the replica is placed on (a host it moved from may still report it).
    const placed = (await store.list(keys.placements)).kvs.map((kv) => keys.parsePlacement(kv.key)).find((p) => p?.app === app && p.name === name && p.replica === replica);
    const rec = placed && decodeRecord(ReplicaRecord, (await store.get(keys.replica(placed.node, app, name, replica)))?.value);
    if (!rec?.containerId) throw new UsageError(`replica ${app}/${name}/${replica} runs nowhere`);
    const n = decodeRecord(NodeRecord, (await store.get(keys.node(rec.node)))?.value);
    if (!n?.docker) throw new UsageError(`node ${rec.node} is not live or does not say where its engine is`);
    return { record: rec, node: n };
  });
  const docker = new Docker(node.docker!.startsWith('unix://') ? { socketPath: node.docker!.slice(7) } : { host: new URL(node.docker!.replace(/^tcp:/, 'http:')).hostname, port: Number(new URL(node.docker!.replace(/^tcp:/, 'http:')).port || 2375) });
  const { follow, tail } = options;
  const container = docker.getContainer(record.containerId!);
  if (!follow) {
    const buf = (await container.logs({ stdout: true, stderr: true, tail, follow: false })) as unknown as Buffer;
    write(buf.length >= 8 && buf[0]! <= 2 ? demuxFrames(buf) : buf);
    return '';
  }
  const stream = await container.logs({ stdout: true, stderr: true, tail, follow: true });
  await new Promise<void>((resolve, reject) => {
    docker.modem.demuxStream(stream, { write: (c: Buffer) => (write(c), true) } as unknown as NodeJS.WritableStream, { write: (c: Buffer) => (write(c), true) } as unknown as NodeJS.WritableStream);
    stream.on('end', () => resolve());
    stream.on('error', reject);
  });
  return '';
}
