import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { agentArgv, controllerArgv } from '../../lab/lab-agents.js';
import { checkEtcdMemberCount, etcdClientUrls, etcdMember, etcdMemberArgv, etcdMemberList } from '../../lab/lab-etcd-cluster.js';
import { etcdArgv } from '../../lab/lab-etcd.js';
import { labLayout } from '../../lab/lab-layout.js';
import { newNodeState } from '../../lab/lab-node.js';
import type { LabState } from '../../lab/lab-state.js';
import { loadConfig } from '../../src/config.js';
import { parseCommandLine } from '../../cli/program.js';
import { dokkaaArgs } from './lab-argv.js';

const layout = labLayout('ha', '/tmp/labs');
const state = (etcdMemberCount?: number): LabState => ({
  ...layout, version: 1, repoRoot: '/repo', prefix: '/dokkaa', ttlSeconds: 4, logLevel: 'info', forwardRule: false,
  controllers: [], nodes: [], createdAt: '', updatedAt: '', ...(etcdMemberCount ? { etcdMemberCount } : {}),
});

describe('lab etcd cluster', () => {
  it('takes 1, 3, 5 or 7 members', () => {
    for (const n of [1, 3, 5, 7]) assert.equal(checkEtcdMemberCount(n), n);
    for (const n of [0, 2, 4, 9]) assert.throws(() => checkEtcdMemberCount(n), { message: `--etcd-members: expected one of 1, 3, 5, 7, got ${n}` });
  });

  it('keeps member 1 where the single etcd is, and gives the others their own ports, data dirs and logs', () => {
    const a = layout.bridgeAddress;
    assert.deepEqual(etcdMember(layout, 1), {
      index: 1, name: 'dk-ha', clientUrl: `https://${a}:23790`, peerUrl: `http://${a}:23791`, dataDir: '/tmp/labs/ha/etcd', log: '/tmp/labs/ha/etcd.log',
    });
    assert.deepEqual(etcdMember(layout, 3), {
      index: 3, name: 'dk-ha-3', clientUrl: `https://${a}:23794`, peerUrl: `http://${a}:23795`, dataDir: '/tmp/labs/ha/etcd-3', log: '/tmp/labs/ha/etcd-3.log',
    });
    assert.equal(etcdMember({ ...layout, tls: false }, 3).clientUrl, `http://${a}:23794`, 'clients in the clear only in a lab without TLS');
    const ports = etcdMemberList(layout, 7).flatMap((m) => [m.clientUrl, m.peerUrl]);
    assert.equal(new Set(ports).size, 14, 'no two members share a port');
  });

  it('starts every member with the whole initial cluster, the same command line on restarts', () => {
    const a = layout.bridgeAddress;
    const argv = etcdMemberArgv(layout, 3, etcdMember(layout, 2));
    const flag = (f: string) => argv[argv.indexOf(f) + 1];
    assert.equal(flag('--name'), 'dk-ha-2');
    assert.equal(flag('--initial-cluster'), `dk-ha=http://${a}:23791,dk-ha-2=http://${a}:23793,dk-ha-3=http://${a}:23795`);
    assert.equal(flag('--initial-cluster-state'), 'new');
    assert.equal(flag('--listen-client-urls'), `https://${a}:23792`);
    assert.ok(argv.includes('--client-cert-auth'), 'every member asks clients for a certificate of the lab CA');
    assert.equal(etcdArgv(layout)[etcdArgv(layout).indexOf('--initial-cluster') + 1], `dk-ha=http://${a}:23791`, 'a one-member lab is as before');
  });

  it("gives every agent and controller every member's URL, which their config reads as several endpoints", () => {
    const s = state(3);
    const urls = etcdClientUrls(s);
    assert.equal(urls.length, 3);
    assert.deepEqual(etcdClientUrls(state()), [`https://${layout.bridgeAddress}:23790`], 'one member: its URL');
    for (const argv of [agentArgv(s, newNodeState(s, 1)), controllerArgv(s)]) {
      const invocation = parseCommandLine(dokkaaArgs(argv), { out: () => undefined, err: () => undefined });
      assert.ok(invocation.command === 'agent' || invocation.command === 'controller');
      assert.deepEqual(loadConfig(invocation.flags, {}).etcd, urls);
    }
  });
});
