import { killNode, restoreNode } from '../lab/index.js';
import { summarize } from './stats.js';
import { barChart } from './svg.js';
import { timeToRunning, type SystemSamples } from './converge-multi.js';
import type { BenchLab } from './lab-bench.js';
import { log } from './lab-bench.js';
import { waitGone, type System } from './systems.js';
import { mdTable, secs, type PartResult, type Target } from './report.js';

export interface FailoverResult {
  replicas: number;
  victim: string;
  ttlSeconds: number;
  runs: number;
  by: Record<string, SystemSamples & { onVictim: number[]; killMs: number[] }>;
}

/**
 * A host dies: the lab's kill-node (the agent SIGKILLed, then the host's dockerd stopped,
 * which takes its containers down). Timed from the start of the kill to the engine event
 * that made all replicas run on the surviving hosts again. Same host, same kill, for
 * Dokkaa and for Swarm (whose worker there is that dockerd). After each run the host is
 * restored (dockerd and agent restarted; the swarm worker rejoins) and the workload removed.
 */
export async function benchFailover(lab: BenchLab, opts: { runs: number; replicas: number; systems: System[]; victim?: string }): Promise<FailoverResult> {
  const victim = opts.victim ?? lab.state.nodes.at(-1)!.name;
  const survivors = lab.state.nodes.map((n) => n.name).filter((n) => n !== victim);
  const result: FailoverResult = { replicas: opts.replicas, victim, ttlSeconds: lab.state.ttlSeconds, runs: opts.runs, by: {} };
  const tag = Date.now().toString(36).slice(-4);
  for (let run = 0; run < opts.runs; run++) {
    for (const sys of run % 2 === 0 ? opts.systems : [...opts.systems].reverse()) {
      const id = `f${tag}r${run}${sys.name[0]!.toLowerCase()}`;
      await timeToRunning(lab, sys, id, opts.replicas, () => sys.deploy(id, opts.replicas));
      // Let the placement settle (Dokkaa: status written, Swarm: tasks reported) before the kill.
      await new Promise((r) => setTimeout(r, 2000));
      const onVictim = lab.engines.count((c) => sys.owns(c, id), [victim]);
      let killMs = 0;
      const ms = await timeToRunning(lab, sys, id, opts.replicas, async () => {
        const k0 = Date.now();
        await killNode(victim, { name: lab.name, say: lab.say });
        killMs = Date.now() - k0;
      }, survivors);
      const entry = (result.by[sys.name] ??= { samples: [], summary: summarize([0]), onVictim: [], killMs: [] });
      entry.samples.push(ms);
      entry.onVictim.push(onVictim);
      entry.killMs.push(killMs);
      log(`failover run ${run + 1}/${opts.runs}: ${sys.name} ${secs(ms)} (${onVictim} replicas were on ${victim}; the kill itself took ${secs(killMs)})`);
      await restoreNode(victim, { name: lab.name, say: lab.say });
      if (sys.name === 'Swarm') await lab.swarm.waitNodesReady(120_000);
      await sys.remove(id);
      await waitGone(lab.engines, sys, id);
    }
  }
  for (const e of Object.values(result.by)) e.summary = summarize(e.samples);
  return result;
}

export function failoverReport(r: FailoverResult): PartResult {
  const systems = Object.keys(r.by);
  const d = r.by.Dokkaa;
  const targets: Target[] = [];
  if (d) {
    const bound = (r.ttlSeconds + 2) * 1000;
    targets.push({
      what: 'Failover (host killed -> its replicas running elsewhere)',
      target: `within TTL + 2 s = ${r.ttlSeconds + 2} s`,
      measured: `${secs(d.summary.median)} median, ${secs(d.summary.max)} worst (TTL ${r.ttlSeconds} s)`,
      met: d.summary.max <= bound,
      ...(d.summary.max > bound ? { note: `${secs(d.summary.max - bound)} over in the worst run${d.summary.median <= bound ? ' (the median is within)' : ''}` } : {}),
    });
  }
  const rows = systems.map((s) => {
    const e = r.by[s]!;
    return [s, secs(e.summary.median), `${secs(e.summary.min)} – ${secs(e.summary.max)}`, e.samples.map((x) => secs(x, 1)).join(', '), e.onVictim.join(', '), e.killMs.map((x) => secs(x, 1)).join(', ')];
  });
  const section = [
    `## Failover: a host killed -> its replicas running elsewhere (${r.runs} runs each)`,
    '',
    `${r.replicas} replicas on ${r.victim} and two other hosts. The kill is the lab's \`kill-node ${r.victim}\`: the host's Dokkaa agent is SIGKILLed (its etcd lease is not revoked) and its dockerd stopped (SIGTERM), which stops its containers; ` +
      `timed from the start of the kill to the engine event that made all ${r.replicas} replicas run on the surviving hosts. ` +
      `Dokkaa's node lease TTL: **${r.ttlSeconds} s** (the default); Dokkaa moves the replicas once etcd expires the dead host's lease. ` +
      'Swarm: the manager (n1) survives; it reschedules once it declares the worker down (its dispatcher heartbeat, 5 s by default, with a grace period).',
    '',
    mdTable(['system', 'median', 'min – max', 'runs', 'replicas on the victim', 'the kill itself took'], rows),
    '',
    '![failover](failover.svg)',
    '',
  ].join('\n');
  const chart = barChart({
    title: `Failover: host killed -> ${r.replicas} replicas running again`,
    yLabel: 'seconds (median; whiskers min – max)',
    groups: [{ label: `kill-node ${r.victim}`, bars: systems.map((s) => ({ series: s, value: r.by[s]!.summary.median / 1000, lo: r.by[s]!.summary.min / 1000, hi: r.by[s]!.summary.max / 1000, label: (r.by[s]!.summary.median / 1000).toFixed(1) })) }],
    refLines: d ? [{ group: `kill-node ${r.victim}`, value: r.ttlSeconds + 2, label: `target: TTL + 2 s` }] : [],
    width: 480,
  });
  return { section, json: r, targets, charts: [{ file: 'failover.svg', svg: chart, alt: 'failover' }] };
}
