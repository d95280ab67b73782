import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readlinkSync } from 'node:fs';
import { inNetns, readTestEnv } from '../../lab/test-env.js';
import { DOCKER, ETCD, World } from './support/world.js';

/**
 * The suite runs on an engine and an etcd of its own, started empty for this run
 * (scripts/test.sh, lab/test-env.ts), never on the machine's.
 */
describe('the suite\'s own environment', () => {
  const file = process.env.DOKKAA_TEST_ENV_FILE;
  const env = file ? readTestEnv(file) : undefined;
  const world = new World();
  after(() => world.cleanup());

  it('was set up for this run by npm test', () => {
    assert.ok(env, 'DOKKAA_TEST_ENV_FILE names the set-up\'s record');
    assert.equal(`unix://${DOCKER}`, env.docker);
    assert.equal(ETCD, env.etcd);
  });

  it('uses an engine that is not the machine\'s, in a network namespace of its own', async () => {
    assert.notEqual(DOCKER, '/var/run/docker.sock');
    assert.ok(inNetns(env!.netns), `this process runs in ${env!.netns}`);
    assert.notEqual(readlinkSync('/proc/self/ns/net'), env!.setupNetns, 'not in the machine\'s namespace');
    const info = (await world.docker.info()) as { ID: string; DockerRootDir: string };
    assert.equal(info.ID, env!.engineId, 'the engine the set-up checked');
    assert.equal(info.DockerRootDir, env!.dataRoot);
  });

  it('started from an empty engine and an empty etcd', async () => {
    assert.equal(env!.containersAtStart, 0);
    assert.deepEqual(env!.imagesAtStart, ['dokkaa/busybox:latest']);
    assert.equal(env!.etcdRevisionAtStart, '1');
    assert.notEqual(new URL(ETCD).port, '2379');
    // A new engine reports its default bridge without a Gateway (the field appears only after
    // a restart): the state a newcomer's machine is in, which the product must handle.
    const bridge = (await world.docker.getNetwork('bridge').inspect()) as { IPAM: { Config: { Gateway?: string }[] } };
    assert.equal(bridge.IPAM.Config.find((c) => c.Gateway), undefined);
  });
});
