import { ensureEtcdMembers, etcdLeaderIndex } from './lab-etcd-cluster.js';
import { withLab, writeState } from './lab-state.js';
import { isOurs, stopProcess } from './processes.js';

/**
 * Faults on the lab's etcd cluster (`--etcd-members N`): kill-etcd-member SIGKILLs one
 * member (no clean shutdown, no leadership transfer: the others hold an election once
 * their election timeout passes); restore-etcd-member starts every member that is down
 * again, with its data dir, so that it rejoins and catches up from the leader.
 */

export interface EtcdFaultOptions {
  name?: string;
  stateRoot?: string;
  say?: (line: string) => void;
}

/** SIGKILLs member `member` (1-based), or the one that leads now; resolves its index. */
export function killEtcdMember(member: number | 'leader', opts: EtcdFaultOptions = {}): Promise<number> {
  return withLab(opts, async (state, say) => {
    const count = state.etcdMemberCount ?? 1;
    if (count < 2) throw new Error(`lab ${state.name} has a single etcd member (dokkaa lab up --etcd-members 3 makes a cluster)`);
    const index = member === 'leader' ? await etcdLeaderIndex(state) : member;
    if (index === undefined) throw new Error(`lab ${state.name}: no etcd member answers as leader`);
    const rec = state.etcdMembers?.[index - 1];
    if (!Number.isInteger(index) || index < 1 || index > count || !isOurs(rec)) throw new Error(`etcd member ${index} of lab ${state.name} is not running (members 1..${count})`);
    await stopProcess(rec, 0, 'SIGKILL');
    state.etcdMembers![index - 1] = undefined;
    writeState(state);
    say(`etcd member ${index} pid ${rec!.pid} SIGKILLed${member === 'leader' ? ' (it led)' : ''}`);
    return index;
  });
}

/** Starts the members that are down; resolves the indexes started (each answers by then). */
export function restoreEtcdMembers(opts: EtcdFaultOptions = {}): Promise<number[]> {
  return withLab(opts, async (state, say) => {
    const started = await ensureEtcdMembers(state, () => writeState(state));
    writeState(state);
    for (const i of started) say(`etcd member ${i} started again, pid ${state.etcdMembers![i - 1]!.pid}`);
    return started;
  });
}
