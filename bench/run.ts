import { mkdirSync, writeFileSync } from 'node:fs';
import { benchSingleHost, singleHostReport } from './converge-single.js';

/** `npm run bench`: runs every benchmark and writes bench/results/report.md. */
async function main(): Promise<void> {
  const etcd = process.env.DOKKAA_BENCH_ETCD ?? 'http://127.0.0.1:2379';
  const docker = process.env.DOKKAA_BENCH_DOCKER ?? '/var/run/docker.sock';
  const runs = Number(process.env.DOKKAA_BENCH_RUNS ?? 15);
  const sections: string[] = [`# Dokkaa benchmarks`, '', `Run ${new Date().toISOString()} on ${process.platform}/${process.arch}, Node ${process.version}. Figures are from one run on a shared machine: compare ratios, not absolutes.`, ''];
  const single = await benchSingleHost({ etcd, docker, runs });
  sections.push(singleHostReport(single));
  console.log(singleHostReport(single));
  const dir = new URL('../../bench/results/', import.meta.url);
  mkdirSync(dir, { recursive: true });
  writeFileSync(new URL('report.md', dir), sections.join('\n'));
  writeFileSync(new URL('results.json', dir), JSON.stringify({ single }, null, 2));
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
