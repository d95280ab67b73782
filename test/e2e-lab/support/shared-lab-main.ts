import { labDown, labUp } from '../../../lab/index.js';
import { SHARED_LAB } from './shared-lab.js';

/**
 * `node shared-lab-main.js up|down NAME`: scripts/test.sh's shared lab (see shared-lab.ts).
 * `up` first removes anything an earlier, interrupted run left under the name. Progress on
 * stderr; exit status 1 if the lab could not be brought up or removed completely.
 */
async function main([command, name]: string[]): Promise<void> {
  const say = (l: string) => console.error(`[shared lab] ${l}`);
  if ((command !== 'up' && command !== 'down') || !name) throw new Error('usage: shared-lab-main.js up|down NAME');
  const down = await labDown(name, { say });
  if (command === 'up') {
    const r = await labUp({ name, ...SHARED_LAB, logLevel: 'info', say });
    say(`lab ${name} up in ${(r.elapsedMs / 1000).toFixed(1)} s`);
  } else if (down.problems.length) {
    throw new Error(`lab ${name} not removed completely:\n  ${down.problems.join('\n  ')}`);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(`[shared lab] ERROR: ${(err as Error).message}`);
  process.exit(1);
});
