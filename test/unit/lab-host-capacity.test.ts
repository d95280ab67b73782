import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { capacityArgs, parseHostCapacity } from '../../lab/host-capacity.js';
import { agentArgv } from '../../lab/lab-agents.js';
import { labLayout } from '../../lab/lab-layout.js';
import { newNodeState } from '../../lab/lab-node.js';
import type { LabState } from '../../lab/lab-state.js';
import { loadConfig } from '../../src/config.js';
import { parseCommandLine } from '../../cli/program.js';
import { dokkaaArgs } from './lab-argv.js';

const state: LabState = {
  ...labLayout('capl', '/tmp/labs'), version: 1, repoRoot: '/repo', prefix: '/dokkaa', ttlSeconds: 4, logLevel: 'info', forwardRule: false,
  controllers: [], nodes: [], createdAt: '', updatedAt: '',
};

describe('lab host sizes', () => {
  it('reads MEMORY:CPUS with either part left out', () => {
    assert.deepEqual(parseHostCapacity('x', '2Gi:2'), { memory: '2Gi', cpus: 2 });
    assert.deepEqual(parseHostCapacity('x', '512Mi'), { memory: '512Mi' });
    assert.deepEqual(parseHostCapacity('x', ':0.5'), { cpus: 0.5 });
    assert.throws(() => parseHostCapacity('x', ':'), /^Error: x: expected MEMORY:CPUS/);
    assert.throws(() => parseHostCapacity('x', '1Gi:1:1'), /^Error: x: expected MEMORY:CPUS/);
  });

  it("starts a sized host's agent with the overrides and no reserve, which its config reads back", () => {
    const node = { ...newNodeState(state, 2), capacity: { memory: '2Gi', cpus: 2 }, labels: { zone: 'b' } };
    const argv = agentArgv(state, node);
    assert.deepEqual(argv.slice(-10), ['--label', 'zone=b', '--capacity-memory', '2Gi', '--capacity-cpus', '2', '--reserve-memory', '0', '--reserve-cpus', '0']);
    const invocation = parseCommandLine(dokkaaArgs(argv), { out: () => undefined, err: () => undefined });
    assert.ok(invocation.command === 'agent');
    const config = loadConfig(invocation.flags, {});
    assert.deepEqual([config.capacity, config.reserve], [{ memoryBytes: 2 * 2 ** 30, cpus: 2 }, { cpus: 0, memoryBytes: 0 }]);
  });

  it('leaves an unsized host to the engine and the default reserve', () => {
    assert.deepEqual(capacityArgs(undefined), []);
    assert.ok(!agentArgv(state, newNodeState(state, 1)).some((a) => a.startsWith('--capacity') || a.startsWith('--reserve')));
  });
});
