import { matchesConstraints } from '../api/constraints.js';
import { pinnedSpecOf, runImageOf } from '../api/image-pins.js';
import { decodeManifest } from '../api/manifest.js';
import { decodeRecord, MaintenanceRecord, NodeRecord, type PrepullRecord, PrepulledRecord, type RestartRecord, RolloutRecord } from '../api/records.js';
import type { Config } from '../src/config.js';
import type { KvStore } from '../src/etcd/kv-store.js';
import type { Keys } from '../api/keys.js';
import { UsageError, withStore } from './client-commands.js';

function appName(target: string | undefined, usage: string): { app: string; name: string } {
  const [app, name, extra] = (target ?? '').split('/');
  if (!app || !name || extra !== undefined) throw new UsageError(`usage: ${usage}`);
  return { app, name };
}

/**
 * `dokkaa rollout restart APP/NAME`: asks the scheduler (restarts/APP/NAME) to pin the
 * image's tag again and roll every replica, under the manifest's update policy.
 */
export async function rolloutRestart(target: string | undefined, config: Config, now: () => Date = () => new Date()): Promise<string> {
  const { app, name } = appName(target, 'dokkaa rollout restart APP/NAME');
  return withStore(config, async (store, keys) => {
    if (!(await store.get(keys.manifest(app, name)))) throw new UsageError(`${app}/${name} not found`);
    const record: RestartRecord = { requestedAt: now().toISOString() };
    await store.put(keys.restart(app, name), JSON.stringify(record));
    return `restart of ${app}/${name} requested (${record.requestedAt}); follow it with dokkaa status ${app}/${name}`;
  });
}

export interface PullOptions {
  timeoutSeconds: number;
}

/** The image a manifest's replicas run (its pin, if the scheduler made one) and the live, uncordoned nodes that may run it. */
export async function prepullTargets(store: KvStore, keys: Keys, app: string, name: string): Promise<{ image: string; nodes: string[] }> {
  const [m, r, nodes, maintenance] = await Promise.all([
    store.get(keys.manifest(app, name)),
    store.get(keys.rollout(app, name)),
    store.list(keys.nodes),
    store.list(keys.maintenance),
  ]);
  if (!m) throw new UsageError(`${app}/${name} not found`);
  const decoded = decodeManifest(m.value, app, name);
  if (!decoded.ok) throw new UsageError(`${app}/${name} is invalid: ${decoded.errors.join('; ')}`);
  const spec = pinnedSpecOf(decoded.spec, decodeRecord(RolloutRecord, r?.value));
  const cordoned = new Set(maintenance.kvs.filter((kv) => decodeRecord(MaintenanceRecord, kv.value)?.cordoned).map((kv) => keys.parseMaintenance(kv.key)));
  const live = nodes.kvs.map((kv) => decodeRecord(NodeRecord, kv.value)).filter((n): n is NodeRecord => n !== undefined);
  return { image: runImageOf(spec), nodes: live.filter((n) => !cordoned.has(n.name) && matchesConstraints(n, spec.constraints)).map((n) => n.name).sort() };
}

/**
 * `dokkaa pull APP/NAME [--timeout S]`: asks every live, uncordoned node that matches the
 * manifest's constraints to pull its image (prepull/APP/NAME), then prints each node's
 * progress until all have it. Fails if a node's pull fails or the timeout passes.
 */
export async function pull(target: string | undefined, options: PullOptions, config: Config, out: (line: string) => void): Promise<string> {
  const { app, name } = appName(target, 'dokkaa pull APP/NAME [--timeout SECONDS]');
  return withStore(config, async (store, keys) => {
    const { image, nodes } = await prepullTargets(store, keys, app, name);
    if (nodes.length === 0) throw new UsageError(`no live, uncordoned node may run ${app}/${name}`);
    const request: PrepullRecord = { image, requestedAt: new Date().toISOString() };
    await store.put(keys.prepull(app, name), JSON.stringify(request));
    out(`pulling ${image} on ${nodes.join(', ')}`);
    const deadline = Date.now() + options.timeoutSeconds * 1000;
    const shown = new Map<string, string>();
    for (;;) {
      const answers = new Map<string, PrepulledRecord>();
      for (const kv of (await store.list(keys.prepulled)).kvs) {
        const at = keys.parsePrepulled(kv.key);
        const a = decodeRecord(PrepulledRecord, kv.value);
        if (at?.app === app && at.name === name && a?.requestedAt === request.requestedAt) answers.set(at.node, a);
      }
      for (const n of nodes) {
        const line = answers.get(n) ? `${n}: ${answers.get(n)!.state === 'failed' ? 'failed: ' : ''}${answers.get(n)!.message}` : `${n}: waiting`;
        if (shown.get(n) !== line) out(line);
        shown.set(n, line);
      }
      const failed = nodes.filter((n) => answers.get(n)?.state === 'failed');
      const done = nodes.filter((n) => answers.get(n)?.state === 'present');
      if (done.length + failed.length === nodes.length) {
        if (failed.length) throw new UsageError(`${image} failed on ${failed.join(', ')}`);
        return `${image} present on ${nodes.length} node(s)`;
      }
      if (Date.now() >= deadline) throw new UsageError(`timed out: ${image} not yet on ${nodes.filter((n) => !done.includes(n)).join(', ')}`);
      await new Promise((res) => setTimeout(res, 250));
    }
  });
}
