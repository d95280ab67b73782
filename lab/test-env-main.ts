import { DEFAULT_TEST_LAB, testEnvDown, testEnvFile, testEnvUp } from './test-env.js';
import { labLayout } from './lab-layout.js';

/**
 * `node dist/lab/test-env-main.js up|down [LAB]`, for scripts/test.sh. `up` prints the
 * suite's environment as shell `export` lines; progress goes to stderr. Exit 1 on failure.
 */
async function main(argv: string[]): Promise<void> {
  const [command, name = DEFAULT_TEST_LAB] = argv;
  const say = (line: string) => console.error(`[test-env] ${line}`);
  if (command === 'up') {
    const env = await testEnvUp(name, say);
    say(`engine ${env.engineId.slice(0, 12)} at ${env.docker}, etcd ${env.etcd}, netns ${env.netns}`);
    console.log([
      `export DOKKAA_TEST_ETCD=${env.etcd}`,
      `export DOKKAA_TEST_DOCKER=${env.docker}`,
      `export DOKKAA_TEST_NETNS=${env.netns}`,
      `export DOKKAA_TEST_ENV_FILE=${testEnvFile(labLayout(name).stateDir)}`,
    ].join('\n'));
  } else if (command === 'down') {
    const problems = await testEnvDown(name, say);
    if (problems.length) throw new Error(`test environment ${name} partly removed:\n  ${problems.join('\n  ')}`);
  } else {
    throw new Error('usage: test-env-main.js up|down [LAB]');
  }
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`[test-env] ERROR: ${(err as Error).message}`);
    process.exit(1);
  },
);
