import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dokkaaCli as dokkaa, useDokkaa } from './support/dokkaa.js';
import { waitFor } from './support/world.js';

const MANIFESTS = fileURLToPath(new URL('../../../manifests/local/', import.meta.url));

describe('the dokkaa CLI against a running cluster', () => {
  const { world } = useDokkaa();

  it('applies, shows status, nodes, describe and logs, and deletes', async () => {
    const app = `cli-${world.id}`;
    const applied = await dokkaa(world, 'apply', '-f', join(MANIFESTS, 'nginx.json'), '--app', app);
    assert.equal(applied.stdout.trim(), `${app}/nginx created`);
    assert.equal((await dokkaa(world, 'apply', '-f', join(MANIFESTS, 'nginx.json'), '--app', app)).stdout.trim(), `${app}/nginx unchanged`);
    await waitFor('Running', async () => (await world.status(app, 'nginx'))?.phase === 'Running', 60_000);

    const table = await dokkaa(world, 'status', app);
    assert.match(table.stdout, new RegExp(`^${app}\\s+nginx\\s+Running\\s+1/1`, 'm'));
    const json = JSON.parse((await dokkaa(world, 'status', `${app}/nginx`, '--json')).stdout) as { status: { phase: string } };
    assert.equal(json.status.phase, 'Running');
    assert.match((await dokkaa(world, 'nodes')).stdout, new RegExp(`^${world.node}\\s`, 'm'));

    const described = (await dokkaa(world, 'describe', `${app}/nginx`)).stdout;
    assert.match(described, /Phase:\s+Running/);
    assert.match(described, new RegExp(`^0\\s+${world.node}\\s+running\\s+yes`, 'm'));
    assert.match(described, /Scheduled\s.*replica 0 placed/);

    // busybox httpd logs nothing by itself; a replica that prints does.
    await world.putManifest(app, 'talker', { image: 'dokkaa/busybox', command: ['sh', '-c', 'echo hello from replica; sleep 3600'] });
    await waitFor('talker Running', async () => (await world.status(app, 'talker'))?.phase === 'Running', 60_000);
    await waitFor('logs', async () => (await dokkaa(world, 'logs', `${app}/talker/0`)).stdout.includes('hello from replica'));

    assert.equal((await dokkaa(world, 'delete', `${app}/nginx`)).stdout.trim(), `${app}/nginx deleted`);
    await waitFor('gone', async () => (await world.containers(app, 'nginx')).length === 0, 30_000);
  });

  it('refuses an invalid manifest file, printing every error, and writes nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dokkaa-cli-'));
    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ image: 'x', scale: -1, comand: [] }));
    const r = await dokkaa(world, 'apply', '-f', join(dir, 'bad.json'), '--app', `cli-${world.id}`);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /scale: expected an integer >= 0, got -1|comand: expected no such field/);
    assert.equal(await world.etcd.get(world.keys.manifest(`cli-${world.id}`, 'bad')).string(), null);
  });
});
