import 'reflect-metadata';
import { performance } from 'node:perf_hooks';
import Docker from 'dockerode';
import { AGENT_MODULES, buildContainer, CONTROLLER_MODULES } from '../cli/process-container.js';
import { createLogger } from '../src/logging.js';
import { Manager } from '../src/manager.js';
import { Etcd3 } from 'etcd3';
import { etcdClientOptions } from '../src/etcd/etcd-tls.js';
import { Keys } from '../api/keys.js';
import { decodeRecord, StatusRecord } from '../api/records.js';
import { fmtMs, summarize, type Summary } from './stats.js';

export interface SingleHostResult {
  runs: number;
  dokkaaRunning: Summary;
  dokkaaStatus: Summary;
  floor: Summary;
}

const IMAGE = 'dokkaa/busybox:latest';
const CMD = ['sleep', '3600'];

/**
 * Manifest put -> container running on one host, against a plain dockerode create+start
 * of the same image and command on the same engine, alternating run by run.
 */
export async function benchSingleHost(opts: { etcd: string; docker: string; runs: number }): Promise<SingleHostResult> {
  const id = Math.random().toString(16).slice(2, 8);
  const prefix = `/bench-${id}`;
  const node = `bench-${id}`;
  const keys = new Keys(prefix);
  const docker = new Docker({ socketPath: opts.docker });
  const etcd = new Etcd3(etcdClientOptions({ etcd: [opts.etcd] }, new Date()));
  const config = {
    etcd: [opts.etcd], prefix, docker: `unix://${opts.docker}`, node, address: '', labels: {},
    leaseTtlSeconds: 10, resyncSeconds: 30, logLevel: 'error', fence: true,
  };
  const container = buildContainer(config, createLogger('error', true), [...AGENT_MODULES, ...CONTROLLER_MODULES]);
  const manager = container.get(Manager);
  await manager.start();
  // Let the leader election settle before timing.
  for (let i = 0; i < 100 && !(await etcd.get(keys.leader).string()); i++) await new Promise((r) => setTimeout(r, 50));

  const starts = new Map<string, number>();
  const events = await docker.getEvents({ filters: { type: ['container'], event: ['start'] } });
  events.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n').filter(Boolean)) {
      try {
        const ev = JSON.parse(line) as { Actor?: { Attributes?: Record<string, string> } };
        const name = ev.Actor?.Attributes?.name;
        if (name && !starts.has(name)) starts.set(name, performance.now());
      } catch {
        /* partial line */
      }
    }
  });
  const waitStart = async (name: string) => {
    for (let i = 0; i < 3000 && !starts.has(name); i++) await new Promise((r) => setTimeout(r, 5));
    const t = starts.get(name);
    if (t === undefined) throw new Error(`${name} never started`);
    return t;
  };

  const dokkaaRunning: number[] = [];
  const dokkaaStatus: number[] = [];
  const floor: number[] = [];
  try {
    for (let i = 0; i < opts.runs; i++) {
      // Dokkaa: a raw etcd put, then wait for Docker's start event and the status key.
      const app = `b${id}-${i}`;
      const t0 = performance.now();
      await etcd.put(keys.manifest(app, 'svc')).value(JSON.stringify({ image: IMAGE, command: CMD }));
      dokkaaRunning.push((await waitStart(`${app}---svc---0`)) - t0);
      for (let j = 0; j < 3000; j++) {
        const s = decodeRecord(StatusRecord, await etcd.get(keys.status(app, 'svc')).string());
        if (s?.phase === 'Running') break;
        await new Promise((r) => setTimeout(r, 2));
      }
      dokkaaStatus.push(performance.now() - t0);

      // The floor: create+start through dockerode, as the node runner's engine does it.
      const name = `floor-${id}-${i}`;
      const f0 = performance.now();
      const c = await docker.createContainer({ name, Image: IMAGE, Cmd: CMD, HostConfig: { Init: true } });
      await c.start();
      floor.push(performance.now() - f0);
    }
  } finally {
    (events as unknown as { destroy?: () => void }).destroy?.();
    await manager.stop();
    await container.unbindAllAsync();
    for (const c of await docker.listContainers({ all: true, filters: { label: [`dokkaa.node=${node}`] } })) {
      await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
    }
    for (let i = 0; i < opts.runs; i++) await docker.getContainer(`floor-${id}-${i}`).remove({ force: true }).catch(() => undefined);
    await etcd.delete().prefix(keys.all);
    etcd.close();
  }
  return { runs: opts.runs, dokkaaRunning: summarize(dokkaaRunning), dokkaaStatus: summarize(dokkaaStatus), floor: summarize(floor) };
}

export function singleHostReport(r: SingleHostResult): string {
  const row = (what: string, s: Summary) =>
    `| ${what} | ${fmtMs(s.median)} | ${fmtMs(s.p10)} – ${fmtMs(s.p90)} | ${(s.median / r.floor.median).toFixed(2)}x |`;
  return [
    `## Manifest put -> container running, one host (${r.runs} runs, alternating)`,
    '',
    '| path | median | p10 – p90 | ratio to floor |',
    '| --- | --- | --- | --- |',
    row('Dokkaa: etcd put -> Docker start event', r.dokkaaRunning),
    row('Dokkaa: etcd put -> status Running', r.dokkaaStatus),
    row('floor: dockerode create + start', r.floor),
    '',
  ].join('\n');
}
