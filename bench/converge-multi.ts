import { summarize, type Summary } from './stats.js';
import { barChart } from './svg.js';
import type { BenchLab } from './lab-bench.js';
import { log } from './lab-bench.js';
import { waitGone, type System } from './systems.js';
import { mdTable, secs, type PartResult, type Target } from './report.js';
import { RemovalTracer, StageTracer, traceTable, type ConvergeTrace } from './converge-trace.js';

/**
 * Converge and scale change on the lab's engines, Dokkaa, Swarm and the floor side by side:
 * for each scale and run the three go one after another (never two at once), in an order
 * that rotates from run to run. "Running" is what the engines report (see Engines).
 */

export interface SystemSamples {
  samples: number[];
  summary: Summary;
}

export interface ConvergeResult {
  hosts: number;
  runs: number;
  converge: { scale: number; by: Record<string, SystemSamples> }[];
  /** Extra systems measured once at some scales, for information (e.g. Swarm given a tag). */
  extra: { scale: number; system: string; ms: number }[];
  scaleChange: { step: string; from: number; to: number; by: Record<string, SystemSamples> }[];
  /** One extra Dokkaa converge per scale, traced stage by stage (not in the medians). */
  traces: { scale: number; ms: number; trace: ConvergeTrace }[];
  /** The floor's converge per scale, traced the same way (engine stages only), to compare stage by stage. */
  floorTraces?: { scale: number; ms: number; trace: ConvergeTrace }[];
  /** One extra Dokkaa scale-up 10 -> 30, traced (not in the medians); the floor's, the same way. */
  scaleUpTrace?: { ms: number; trace: ConvergeTrace };
  floorScaleUpTrace?: { ms: number; trace: ConvergeTrace };
  /** One extra Dokkaa scale-down 30 -> 10, traced (not in the medians). */
  removalTrace?: { ms: number; trace: ConvergeTrace };
  /** The floor's scale-down, traced the same way (engine stages only). */
  floorRemovalTrace?: { ms: number; trace: ConvergeTrace };
}

const TIMEOUT_MS = 240_000;

function rotate<T>(xs: T[], by: number): T[] {
  const k = by % xs.length;
  return [...xs.slice(k), ...xs.slice(0, k)];
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Time from the request (manifest put, service create/scale, first API call) to the engine
 * event that made exactly `want` containers of `id` run.
 */
export async function timeToRunning(lab: BenchLab, sys: System, id: string, want: number, request: () => Promise<void>, nodes?: string[]): Promise<number> {
  const count = () => lab.engines.count((c) => sys.owns(c, id), nodes);
  const t0 = Date.now();
  const done = lab.engines.until(() => count() === want, TIMEOUT_MS, () => `${sys.name} ${id}: ${count()} of ${want} running`);
  await request();
  return (await done) - t0;
}

async function cleanup(lab: BenchLab, sys: System, id: string): Promise<void> {
  await sys.remove(id);
  await waitGone(lab.engines, sys, id);
}

/**
 * Runs per system at a scale: three times `runs` at 10 replicas or fewer. Those converges
 * last a second or two, and one container start's jitter on these engines (tens of ms) is a
 * few percent of them: three runs cannot tell 1.05x from 1.10x there.
 */
export function runsAt(scale: number, runs: number): number {
  return scale <= 10 ? runs * 3 : runs;
}

/**
 * Scale changes 10 -> 30 -> 10 per deployment of each scale run. A scale-down lasts under a
 * second, as short as the one-replica converge, so it gets as many samples (runsAt), without
 * deploying and removing the service more often.
 */
export const SCALE_CYCLES = 3;

export async function benchConverge(lab: BenchLab, opts: { runs: number; scales: number[]; scaleRuns: number; systems: System[]; extra?: { system: System; scales: number[] }; trace?: boolean }): Promise<ConvergeResult> {
  const hosts = lab.state.nodes.length;
  const result: ConvergeResult = { hosts, runs: opts.runs, converge: [], scaleChange: [], extra: [], traces: [] };
  const tag = Date.now().toString(36).slice(-4);
  const floor = opts.systems.find((s) => s.name === 'floor');
  // The systems traced stage by stage, beside the timed runs: Dokkaa and the floor.
  const traced = opts.trace && opts.systems.includes(lab.dokkaa) ? [lab.dokkaa, ...(floor ? [floor] : [])] : [];

  // Warm-up, not timed: the first containers on a fresh engine start slower than the rest.
  for (const sys of opts.systems) {
    const id = `w${tag}${sys.name[0]!.toLowerCase()}`;
    await timeToRunning(lab, sys, id, hosts, () => sys.deploy(id, hosts));
    await cleanup(lab, sys, id);
  }

  for (const scale of opts.scales) {
    const samples: Record<string, number[]> = Object.fromEntries(opts.systems.map((s) => [s.name, []]));
    const runs = runsAt(scale, opts.runs);
    for (let run = 0; run < runs; run++) {
      for (const sys of rotate(opts.systems, run)) {
        const id = `c${tag}s${scale}r${run}${sys.name[0]!.toLowerCase()}`;
        const ms = await timeToRunning(lab, sys, id, scale, () => sys.deploy(id, scale));
        samples[sys.name]!.push(ms);
        log(`converge scale ${scale} run ${run + 1}/${runs}: ${sys.name} ${secs(ms)}`);
        await cleanup(lab, sys, id);
        await pause(500);
      }
    }
    result.converge.push({ scale, by: Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, { samples: v, summary: summarize(v) }])) });
    // One traced converge each of Dokkaa and the floor: where Dokkaa's time goes, stage by stage.
    for (const sys of traced) {
      const id = `t${tag}s${scale}${sys.name[0]!.toLowerCase()}`;
      const tracer = new StageTracer(lab.etcd, lab.state.prefix, lab.engines, id, scale, { floor: sys === floor });
      await tracer.start();
      const t0 = Date.now();
      const ms = await timeToRunning(lab, sys, id, scale, () => sys.deploy(id, scale));
      await tracer.stop();
      if (sys === floor) (result.floorTraces ??= []).push({ scale, ms, trace: tracer.result(t0) });
      else result.traces.push({ scale, ms, trace: tracer.result(t0) });
      log(`converge scale ${scale}, traced: ${sys.name} ${secs(ms)}`);
      await cleanup(lab, sys, id);
      await pause(500);
    }
    if (opts.extra?.scales.includes(scale)) {
      const sys = opts.extra.system;
      const id = `x${tag}s${scale}`;
      const ms = await timeToRunning(lab, sys, id, scale, () => sys.deploy(id, scale));
      result.extra.push({ scale, system: sys.name, ms });
      log(`converge scale ${scale}, once: ${sys.name} ${secs(ms)}`);
      await cleanup(lab, sys, id);
    }
  }

  const up: Record<string, number[]> = Object.fromEntries(opts.systems.map((s) => [s.name, []]));
  const down: Record<string, number[]> = Object.fromEntries(opts.systems.map((s) => [s.name, []]));
  for (let run = 0; run < opts.scaleRuns; run++) {
    for (const sys of rotate(opts.systems, run)) {
      const id = `s${tag}r${run}${sys.name[0]!.toLowerCase()}`;
      await timeToRunning(lab, sys, id, 10, () => sys.deploy(id, 10));
      for (let cycle = 0; cycle < SCALE_CYCLES; cycle++) {
        await pause(1000);
        const a = await timeToRunning(lab, sys, id, 30, () => sys.scale(id, 30));
        await pause(1000);
        const b = await timeToRunning(lab, sys, id, 10, () => sys.scale(id, 10));
        up[sys.name]!.push(a);
        down[sys.name]!.push(b);
        log(`scale run ${run + 1}/${opts.scaleRuns}, cycle ${cycle + 1}/${SCALE_CYCLES}: ${sys.name} 10->30 ${secs(a)}, 30->10 ${secs(b)}`);
      }
      await cleanup(lab, sys, id);
      await pause(500);
    }
  }
  // One traced scale-up and scale-down each of Dokkaa and the floor: when the new containers
  // were created and started, and when the stop signals went out.
  for (const sys of traced) {
    const id = `s${tag}t${sys.name[0]!.toLowerCase()}`;
    await timeToRunning(lab, sys, id, 10, () => sys.deploy(id, 10));
    await pause(1000);
    const up = new StageTracer(lab.etcd, lab.state.prefix, lab.engines, id, 30, { floor: sys === floor });
    await up.start();
    const t1 = Date.now();
    const upMs = await timeToRunning(lab, sys, id, 30, () => sys.scale(id, 30));
    await up.stop();
    result[sys === floor ? 'floorScaleUpTrace' : 'scaleUpTrace'] = { ms: upMs, trace: up.result(t1) };
    log(`scale 10 -> 30, traced: ${sys.name} ${secs(upMs)}`);
    await pause(1000);
    const tracer = new RemovalTracer(lab.etcd, lab.state.prefix, lab.engines, id, { floor: sys === floor });
    await tracer.start();
    const t0 = Date.now();
    const ms = await timeToRunning(lab, sys, id, 10, () => sys.scale(id, 10));
    await pause(500);
    await tracer.stop();
    result[sys === floor ? 'floorRemovalTrace' : 'removalTrace'] = { ms, trace: tracer.result(t0) };
    log(`scale 30 -> 10, traced: ${sys.name} ${secs(ms)}`);
    await cleanup(lab, sys, id);
  }
  const by = (m: Record<string, number[]>) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, { samples: v, summary: summarize(v) }]));
  result.scaleChange.push({ step: '10 -> 30', from: 10, to: 30, by: by(up) }, { step: '30 -> 10', from: 30, to: 10, by: by(down) });
  return result;
}

const cell = (s: SystemSamples | undefined, floor: SystemSamples | undefined) =>
  s ? `${secs(s.summary.median)} (${secs(s.summary.min)} – ${secs(s.summary.max)})${floor ? `, **${(s.summary.median / floor.summary.median).toFixed(2)}x**` : ''}` : '–';

export function convergeReport(r: ConvergeResult, systems: string[]): PartResult {
  const floorName = 'floor';
  const rows = r.converge.flatMap((c) => [
    [`${c.scale}`, ...systems.map((s) => cell(c.by[s], c.by[floorName]))],
    ...r.extra.filter((x) => x.scale === c.scale).map((x) => [
      `${c.scale}, ${x.system} (1 run)`,
      ...systems.map((s) => (s.startsWith('Swarm') ? `${secs(x.ms)}${c.by[floorName] ? `, **${(x.ms / c.by[floorName]!.summary.median).toFixed(2)}x**` : ''}` : '–')),
    ]),
  ]);
  const scaleRows = r.scaleChange.map((c) => [c.step, ...systems.map((s) => cell(c.by[s], c.by[floorName]))]);
  const c30 = r.converge.find((c) => c.scale === 30);
  const targets: Target[] = [];
  if (c30?.by.Dokkaa && c30.by.floor) {
    const ratio = c30.by.Dokkaa.summary.median / c30.by.floor.summary.median;
    targets.push({
      what: 'Converge, 30 replicas on 3 hosts',
      target: 'within 1.3x of the floor',
      measured: `${ratio.toFixed(2)}x (Dokkaa ${secs(c30.by.Dokkaa.summary.median)}, floor ${secs(c30.by.floor.summary.median)}, medians)`,
      met: ratio <= 1.3,
      ...(ratio > 1.3 ? { note: `${((ratio / 1.3 - 1) * 100).toFixed(0)}% over the bound: see "Converge" below` } : {}),
    });
  }
  if (c30?.by.Dokkaa && c30.by.Swarm) {
    const x = c30.by.Swarm.summary.median / c30.by.Dokkaa.summary.median;
    targets.push({
      what: 'Converge, 30 replicas on 3 hosts',
      target: 'at least 10x faster than Swarm',
      measured: `${x.toFixed(2)}x (Swarm ${secs(c30.by.Swarm.summary.median)}, median)`,
      met: x >= 10,
      ...(x < 10
        ? {
            note:
              `${(10 / x).toFixed(1)}x short of the bound. Swarm (image by ID, so no pull attempt) runs at ` +
              `${c30.by.floor ? `${(c30.by.Swarm.summary.median / c30.by.floor.summary.median).toFixed(2)}x the floor` : 'the engines\' pace'}: ` +
              'starting containers on these engines bounds all three, and no orchestrator can beat the floor by 10x' +
              (r.extra.length ? `; given a tag, Swarm took ${r.extra.map((e) => `${secs(e.ms)} for ${e.scale}`).join(', ')} here (registry pull attempts)` : ''),
          }
        : {}),
    });
  }
  // Issue 17: within 1.05x of the floor and no slower than Swarm, every size and both scale steps, in one run.
  const compared = [
    ...r.converge.map((c) => ({ row: `${c.scale} replica${c.scale === 1 ? '' : 's'}`, by: c.by })),
    ...r.scaleChange.map((c) => ({ row: `scale ${c.step}`, by: c.by })),
  ].filter((c) => c.by.Dokkaa && c.by.floor);
  if (compared.length) {
    const missed = compared.filter((c) => c.by.Dokkaa!.summary.median > 1.05 * c.by.floor!.summary.median || (c.by.Swarm && c.by.Dokkaa!.summary.median > c.by.Swarm.summary.median));
    targets.push({
      what: `Converge and scale change, ${r.hosts} hosts, every row of one run`,
      target: 'within 1.05x of the floor and no slower than Swarm',
      measured: compared.map((c) => `${c.row}: ${(c.by.Dokkaa!.summary.median / c.by.floor!.summary.median).toFixed(2)}x${c.by.Swarm ? ` (Swarm ${(c.by.Swarm.summary.median / c.by.floor!.summary.median).toFixed(2)}x)` : ''}`).join('; '),
      met: missed.length === 0,
      ...(missed.length ? { note: `missed at ${missed.map((c) => c.row).join(', ')}` } : {}),
    });
  }
  const chart = (title: string, groups: { label: string; by: Record<string, SystemSamples> }[], file: string) => ({
    file,
    alt: title,
    svg: barChart({
      title,
      yLabel: 'seconds (median; whiskers min – max)',
      groups: groups.map((g) => ({
        label: g.label,
        bars: systems.filter((s) => g.by[s]).map((s) => ({
          series: s,
          value: g.by[s]!.summary.median / 1000,
          lo: g.by[s]!.summary.min / 1000,
          hi: g.by[s]!.summary.max / 1000,
          label: `${(g.by[s]!.summary.median / 1000).toFixed(2)}`,
        })),
      })),
    }),
  });
  const section = [
    `## Converge: manifest put -> all replicas running, ${r.hosts} hosts (${r.runs} runs each; ${runsAt(1, r.runs)} at 10 replicas or fewer)`,
    '',
    'Median (min – max) from the request to the engine event that made the last replica run, and the median as a ratio to the floor. ' +
      'The systems take turns, in a rotating order, run by run. Converges of 10 replicas or fewer get three times the runs: they last a second or two, where one container start\'s jitter is a few percent. ' +
      'Dokkaa: a raw etcd put of the manifest. Swarm: `docker service create --detach --replicas N --no-resolve-image --init <image id> sleep 3600` on the manager (n1). ' +
      'Floor: create + start of the same containers straight through each engine\'s API, round-robin over the hosts, all in parallel. ' +
      'Swarm is given the image by its ID: with a tag, each Swarm task first tries to pull from the registry (even with `--no-resolve-image`), and with no registry reachable here each attempt waits out a DNS timeout; ' +
      `${r.extra.length ? 'the rows marked "image by tag" show that cost, measured once. ' : ''}` +
      'Dokkaa pulls only images the engine lacks. Before the timed runs each system deploys and removes one replica per host, untimed (a fresh engine starts its first containers slower).',
    '',
    mdTable(['replicas', ...systems], rows),
    '',
    '![converge](converge.svg)',
    '',
    `## Scale change: 10 -> 30 -> 10 (${r.scaleChange[0]?.by[systems[0]!]?.samples.length ?? 0} runs each)`,
    '',
    `From the scale request (manifest put with the new scale, \`docker service scale\`, creating or stopping + removing containers) to the engine event that left exactly the new number running. Each deployment scales up and down ${SCALE_CYCLES} times in a row: a scale-down lasts under a second, and one container stop's jitter is a few percent of it.`,
    '',
    mdTable(['step', ...systems], scaleRows),
    '',
    '![scale change](scale.svg)',
    '',
    ...(r.traces.length
      ? [
          '## Converge, stage by stage (Dokkaa, one extra traced run per scale)',
          '',
          'From the manifest put: when the first and the last replica had its placement written (seen by an etcd watch in the bench), its container created and started (engine events), ' +
            'its replica record `running` (etcd watch), and when the status counted every replica; and per replica, the time from the stage before to this one. ' +
            '"placement written" covers the scheduler; "container created" the agent (watch, queue, reads, create call); "container started" the engine\'s start.',
          '',
          ...r.traces.flatMap((t) => {
            const f = r.floorTraces?.find((x) => x.scale === t.scale);
            return [
              `${t.scale} replica${t.scale === 1 ? '' : 's'} (${secs(t.ms)} to the last running):`, '', traceTable(t.trace), '',
              ...(f ? [`The floor, ${t.scale} replica${t.scale === 1 ? '' : 's'}, traced the same way (${secs(f.ms)}; from its first request):`, '', traceTable(f.trace), ''] : []),
            ];
          }),
          ...(r.scaleUpTrace
            ? [`Scale 10 -> 30 (${secs(r.scaleUpTrace.ms)} to the last new replica running), from the scale request, the 20 new replicas:`, '', traceTable(r.scaleUpTrace.trace), '']
            : []),
          ...(r.floorScaleUpTrace
            ? [`The floor's scale 10 -> 30, traced the same way (${secs(r.floorScaleUpTrace.ms)}):`, '', traceTable(r.floorScaleUpTrace.trace), '']
            : []),
          ...(r.removalTrace
            ? [`Scale 30 -> 10 (${secs(r.removalTrace.ms)} to the last container stopped), from the scale request: when each removed replica's placement was deleted (etcd watch), its container got the stop signal (engine \`kill\`) and died (engine \`die\`):`, '', traceTable(r.removalTrace.trace), '']
            : []),
          ...(r.floorRemovalTrace
            ? [`The floor's scale 30 -> 10, traced the same way (${secs(r.floorRemovalTrace.ms)}; it has no placements):`, '', traceTable(r.floorRemovalTrace.trace), '']
            : []),
        ]
      : []),
  ].join('\n');
  return {
    section,
    json: r,
    targets,
    charts: [
      chart(`Manifest put -> all replicas running (${r.hosts} hosts)`, r.converge.map((c) => ({ label: `${c.scale} replica${c.scale === 1 ? '' : 's'}`, by: c.by })), 'converge.svg'),
      chart('Scale change 10 -> 30 -> 10', r.scaleChange.map((c) => ({ label: c.step, by: c.by })), 'scale.svg'),
    ],
  };
}
