import { checkHostCapacity, type HostCapacity } from './host-capacity.js';
import { DEFAULT_LAB, LAB_ROOT, MAX_CONTROLLERS, MAX_NODES, labLayout, nodeName, repoRoot, requireRoot, type LabLayout } from './lab-layout.js';
import { agentArgv, agentInNetns, controllerArgv, startAgent, startController, waitLeader, waitLeaderSeesNodes, waitRegistered } from './lab-agents.js';
import { currentDockerd, ensureLocalImage, startDockerd, stopDockerd, waitEngine } from './lab-engine.js';
import { etcdArgv, startEtcd } from './lab-etcd.js';
import { checkEtcdMemberCount, ensureEtcdMembers, etcdClientUrls } from './lab-etcd-cluster.js';
import { ensureLabPki, labEtcdUrl, labTls } from './lab-pki.js';
import { ensureLabAuth } from './lab-auth.js';
import { clusterKeyFile, ensureClusterKey } from './lab-cluster-key.js';
import { newNodeState, teardownNode } from './lab-node.js';
import { findNode, lockLab, readState, withLab, writeState, type LabNodeState, type LabState } from './lab-state.js';
import { checkSubnetFree, ensureBridge, ensureForwardRule, ensureHostLink, ensureIpForward, ensureNetns, processInNetns } from './netns.js';
import { isOurs, stopProcess, type ProcessRecord } from './processes.js';

export interface LabUpOptions {
  /** Number of hosts; default: as many as the lab has, or 3 for a new lab. */
  nodes?: number;
  name?: string;
  /** Agents' node lease TTL (and the controllers' election lease); default: the lab's current one, or 10. */
  ttlSeconds?: number;
  /** Controller processes (one leads); default: as many as the lab has, or 1. */
  controllers?: number;
  /** etcd members (1, 3, 5 or 7); default: as many as the lab has, or 1. Fixed for the lab's life. */
  etcdMembers?: number;
  /**
   * Node labels, by node name (`{ n1: { disk: 'ssd' } }`). When given, the complete set:
   * nodes it does not name get no labels. Default: every node keeps the labels it has.
   */
  labels?: Record<string, Record<string, string>>;
  /**
   * Host sizes, by node name (`{ n1: { memory: '1Gi', cpus: 1 } }`): each agent reports
   * that instead of the machine's figures, with no reserve. When given, the complete set:
   * nodes it does not name report the engine's. Default: every node keeps its own.
   */
  capacities?: Record<string, HostCapacity>;
  prefix?: string;
  logLevel?: string;
  /** Progress lines, one per change made. Default: stderr. */
  say?: (line: string) => void;
  /** Parent of the state dirs (tests); default /var/lib/dokkaa/lab. */
  stateRoot?: string;
  /**
   * etcd with TLS and client-certificate authentication, certificates in the lab's pki dir
   * (default: as the lab is, or true). false: plain http, for the single-host test
   * environment, whose tests reach etcd by URL alone.
   */
  tls?: boolean;
  /**
   * Network, etcd and engines only: no agents and no controllers (the test suite's own
   * environment runs Dokkaa in the test process). Default: as the lab is, or false.
   */
  bare?: boolean;
}

export interface LabUpResult {
  state: LabState;
  /** What this run changed; empty when the lab was already complete. */
  changes: string[];
  elapsedMs: number;
}

const sameArgv = (rec: ProcessRecord | undefined, argv: string[]) => !!rec && rec.argv.length === argv.length && rec.argv.every((a, i) => a === argv[i]);

/**
 * Brings the lab to N running hosts, creating what is missing and nothing else: a second
 * run with the same options changes nothing. Nodes above N are torn down. A node under an
 * injected fault stays that way (a killed node is not restarted, a partitioned one stays
 * cut off): `restore-node` and `heal` undo faults, `up` only repairs (an etcd member
 * that is down is repaired: started again on its data dir, it rejoins). Agents and the
 * controllers whose command line no longer matches (other TTL, labels, capacity, log level, repo)
 * restart, as does an agent outside its host's netns. Resolves once every live node shows a
 * registration written by its current agent (not one left by an earlier agent whose lease
 * has not expired yet) and one of the lab's controllers holds the leader key.
 */
export async function labUp(opts: LabUpOptions = {}): Promise<LabUpResult> {
  requireRoot();
  const layout = labLayout(opts.name ?? DEFAULT_LAB, opts.stateRoot ?? LAB_ROOT);
  const release = lockLab(layout);
  try {
    return await up(layout, opts);
  } finally {
    release();
  }
}

export interface LabAddHostOptions {
  name?: string;
  /** The new host's size (default: the engine's figures less the agent's default reserve). */
  capacity?: HostCapacity;
  labels?: Record<string, string>;
  say?: (line: string) => void;
  stateRoot?: string;
}

/**
 * Adds one host to a running lab (the next name, n<N+1>) with the given size and labels,
 * the other hosts as they are: `up` with one node more. Resolves once it has registered.
 */
export async function labAddHost(opts: LabAddHostOptions = {}): Promise<LabUpResult & { node: LabNodeState }> {
  return withLab(opts, async (state, say) => {
    const count = Math.max(0, ...state.nodes.map((n) => n.index)) + 1;
    const added = nodeName(count);
    const result = await up(labLayout(state.name, opts.stateRoot ?? LAB_ROOT), {
      say,
      nodes: count,
      labels: { ...Object.fromEntries(state.nodes.map((n) => [n.name, n.labels ?? {}])), [added]: opts.labels ?? {} },
      capacities: {
        ...Object.fromEntries(state.nodes.flatMap((n) => (n.capacity ? [[n.name, n.capacity]] : []))),
        ...(opts.capacity ? { [added]: opts.capacity } : {}),
      },
    });
    return { ...result, node: findNode(result.state, added) };
  });
}

/** labUp's work, under the lab's lock. */
async function up(layout: LabLayout, opts: LabUpOptions): Promise<LabUpResult> {
  const started = Date.now();
  const say = opts.say ?? ((l: string) => console.error(`[lab] ${l}`));
  const now = new Date().toISOString();
  const existing = readState(layout);
  const state: LabState = existing ?? {
    ...layout, version: 1, repoRoot: repoRoot(), prefix: '/dokkaa', ttlSeconds: 10, logLevel: 'info', forwardRule: false, controllers: [], nodes: [], createdAt: now, updatedAt: now,
  };
  const count = opts.nodes ?? (state.nodes.length || 3);
  if (!Number.isInteger(count) || count < 1 || count > MAX_NODES) throw new Error(`--nodes: expected 1..${MAX_NODES}, got ${count}`);
  let controllers = opts.controllers ?? (state.controllers.length || 1);
  if (!Number.isInteger(controllers) || controllers < 1 || controllers > MAX_CONTROLLERS) throw new Error(`--controllers: expected 1..${MAX_CONTROLLERS}, got ${controllers}`);
  const names = Array.from({ length: count }, (_, i) => nodeName(i + 1));
  for (const [flag, byNode] of [['--label', opts.labels], ['--host-capacity', opts.capacities]] as const) {
    const unknown = Object.keys(byNode ?? {}).filter((n) => !names.includes(n));
    if (unknown.length) throw new Error(`${flag}: no node ${unknown.join(', ')} in a lab of ${count} nodes (n1..n${count})`);
  }
  for (const [n, c] of Object.entries(opts.capacities ?? {})) checkHostCapacity(`--host-capacity ${n}`, c);
  const members = checkEtcdMemberCount(opts.etcdMembers ?? state.etcdMemberCount ?? 1);
  // A running cluster's membership is fixed here: changing it means `member add/remove`
  // one at a time, which the lab does not do.
  if (existing && members !== (state.etcdMemberCount ?? 1)) {
    throw new Error(`--etcd-members: lab ${state.name} has ${state.etcdMemberCount ?? 1} etcd member(s); run dokkaa lab down --name ${state.name} to change that`);
  }
  state.etcdMemberCount = members;
  state.repoRoot = repoRoot();
  state.ttlSeconds = opts.ttlSeconds ?? state.ttlSeconds;
  state.prefix = opts.prefix ?? state.prefix;
  state.logLevel = opts.logLevel ?? state.logLevel;
  state.bare = opts.bare ?? state.bare ?? false;
  state.tls = opts.tls ?? state.tls ?? true;
  state.etcdClientUrl = labEtcdUrl(state);
  const changes: string[] = [];
  const note = (line: string) => {
    changes.push(line);
    say(line);
  };
  writeState(state);

  // The root namespace side of the network.
  await checkSubnetFree(state.bridge, state.subnetPrefix);
  if (await ensureBridge(state.bridge, `${state.bridgeAddress}/${state.prefixLength}`)) note(`created bridge ${state.bridge} ${state.bridgeAddress}/${state.prefixLength}`);
  if (await ensureIpForward()) note('enabled net.ipv4.ip_forward');
  if (await ensureForwardRule(state.bridge)) note(`inserted iptables FORWARD -i ${state.bridge} -o ${state.bridge} -j ACCEPT`);
  state.forwardRule = true; // the rule names our bridge: it is ours to remove
  writeState(state);

  for (const made of ensureLabPki(state, names)) note(`made ${made}.crt in ${state.pkiDir}`);
  if (members > 1) {
    for (const i of await ensureEtcdMembers(state, () => writeState(state))) note(`started etcd member ${i} pid ${state.etcdMembers![i - 1]!.pid} at ${etcdClientUrls(state)[i - 1]}`);
    writeState(state);
  } else {
    if (isOurs(state.etcd) && !sameArgv(state.etcd, etcdArgv(state))) {
      await stopProcess(state.etcd, 10_000);
      note(`stopped etcd pid ${state.etcd!.pid} (settings changed: TLS ${state.tls ? 'on' : 'off'})`);
    }
    if (!isOurs(state.etcd)) {
      state.etcd = await startEtcd(state);
      note(`started etcd pid ${state.etcd.pid} at ${state.etcdClientUrl}`);
      writeState(state);
    }
  }

  // Shrink first, so a smaller N frees its hosts before anything else happens.
  for (const extra of state.nodes.filter((n) => n.index > count)) {
    note(`removing ${extra.name} (lab now has ${count} nodes)`);
    const problems = await teardownNode(extra, say);
    if (problems.length) throw new Error(`could not remove ${extra.name}:\n  ${problems.join('\n  ')}`);
    state.nodes = state.nodes.filter((n) => n !== extra);
    writeState(state);
  }

  // Hosts: netns and wiring, sequentially (cheap, and ip(8) calls do not like racing).
  for (let i = 1; i <= count; i++) {
    let node = state.nodes.find((n) => n.index === i);
    if (!node) {
      node = newNodeState(state, i);
      state.nodes.push(node);
      state.nodes.sort((a, b) => a.index - b.index);
    }
    if (opts.labels) node.labels = { ...(opts.labels[node.name] ?? {}) };
    if (opts.capacities) {
      const c = opts.capacities[node.name];
      if (c) node.capacity = { ...c };
      else delete node.capacity;
    }
    if (await ensureNetns(node.netns)) note(`${node.name}: created netns ${node.netns}`);
    const wired = await ensureHostLink(
      { netns: node.netns, vethHost: node.vethHost, vethPeer: node.vethPeer, bridge: state.bridge, addressCidr: `${node.address}/${state.prefixLength}`, gateway: state.bridgeAddress },
      !node.partitioned,
    );
    if (wired) note(`${node.name}: created veth ${node.vethHost} <-> ${node.netns}:${node.vethPeer} ${node.address}`);
    writeState(state);
  }
  const live = state.nodes.filter((n) => !n.killed);

  // Engines, in parallel: each takes ~2 s to come up.
  await Promise.all(live.map((node) => ensureEngine(state, node, note)));
  writeState(state);

  // Secrets are sealed to it; the controllers and agents read its file.
  if (!state.bare && (await ensureClusterKey(state))) note(`cluster key at ${clusterKeyFile(state)} and cluster-key`);
  // Least privilege before any agent or controller logs in: each acts as its certificate's CN.
  if (!state.bare && labTls(state)) await ensureLabAuth(state, state.nodes.map((n) => n.name));

  for (const node of live) {
    if (state.bare) {
      if ((await stopProcess(node.agent, 5_000)) !== 'gone') note(`${node.name}: stopped agent pid ${node.agent!.pid} (bare lab)`);
      node.agent = undefined;
      continue;
    }
    const want = agentArgv(state, node);
    if (isOurs(node.agent) && (!sameArgv(node.agent, want) || !agentInNetns(node))) {
      const why = sameArgv(node.agent, want) ? `it ran outside ${node.netns}` : 'settings changed';
      await stopProcess(node.agent, 5_000);
      note(`${node.name}: stopped agent pid ${node.agent!.pid} (${why})`);
    }
    if (isOurs(node.agent)) continue;
    // A partitioned host's agent starts too, cut off like the rest of the host: it will
    // register once healed.
    node.agent = await startAgent(state, node);
    note(`${node.name}: started agent pid ${node.agent.pid} in ${node.netns} (log ${node.agentLog})`);
    writeState(state);
  }

  // Controllers: exactly `controllers` of them, each running the current command line.
  const wantController = controllerArgv(state);
  if (state.bare) controllers = 0;
  for (let i = controllers; i < state.controllers.length; i++) {
    if ((await stopProcess(state.controllers[i], 5_000)) !== 'gone') note(`stopped controller ${i + 1} pid ${state.controllers[i]!.pid} (lab now has ${controllers})`);
  }
  state.controllers.length = Math.min(state.controllers.length, controllers);
  for (let i = 0; i < controllers; i++) {
    const rec = state.controllers[i];
    if (isOurs(rec) && !sameArgv(rec, wantController)) {
      await stopProcess(rec, 5_000);
      note(`stopped controller ${i + 1} pid ${rec!.pid} (settings changed)`);
    }
    if (isOurs(rec)) continue;
    const started = await startController(state, i + 1);
    state.controllers[i] = started;
    note(`started controller ${i + 1} pid ${started.pid}`);
    writeState(state);
  }
  writeState(state);

  if (!state.bare) {
    const registered = live.filter((n) => !n.partitioned);
    await waitRegistered(state, registered);
    await waitLeaderSeesNodes(state, await waitLeader(state), registered);
  }
  return { state, changes, elapsedMs: Date.now() - started };
}

/**
 * The node's dockerd runs, inside the node's current netns, and has the lab's images. A
 * dockerd left in a netns that was since deleted and re-created is restarted: it would
 * otherwise serve from a namespace nothing is wired to.
 */
async function ensureEngine(state: LabState, node: LabNodeState, note: (line: string) => void): Promise<void> {
  let rec = currentDockerd(node, node.dockerd);
  if (rec && !processInNetns(rec.pid, node.netns)) {
    await stopDockerd(node, rec);
    note(`${node.name}: stopped dockerd pid ${rec.pid} (it ran in a stale netns)`);
    rec = undefined;
  }
  if (!rec) {
    rec = await startDockerd(node);
    note(`${node.name}: started dockerd pid ${rec.pid} (socket ${node.dockerSocket})`);
  }
  node.dockerd = rec;
  await waitEngine(node, rec);
  if (await ensureLocalImage(node, state.repoRoot)) note(`${node.name}: imported the local image`);
}
