import { connect } from 'node:net';
import { slotServer, type Slots, type Upstream } from './haproxy-config.js';

/** One server slot's new state: an endpoint to send traffic to, or none (maint). */
export interface SlotChange {
  backend: string;
  /** The server's name in the config (`s1`...). */
  server: string;
  upstream: Upstream | undefined;
}

/**
 * One command line on a haproxy CLI socket (the master CLI or a worker's stats socket); one
 * connection per call. Resolves with haproxy's answer once it closes the connection; rejects
 * on a socket error or no answer within 5 s. Does not judge the answer: callers do.
 */
export function cliCommand(socket: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(socket);
    let out = '';
    s.setEncoding('utf8');
    s.setTimeout(5_000, () => s.destroy(new Error(`haproxy CLI ${command}: no answer`)));
    s.on('connect', () => s.end(`${command}\n`));
    s.on('data', (d: string) => (out += d));
    s.on('end', () => resolve(out));
    s.on('error', reject);
  });
}

/**
 * The runtime API of a running haproxy (its worker's stats socket, `level admin`): changes
 * servers without a reload. Not retried here; every call rejects with haproxy's own words
 * when it refuses a command, so the caller can fall back to a reload.
 */
export class HaproxyRuntime {
  constructor(private readonly socket: string) {}

  /**
   * Points a slot at its endpoint and readies it, or puts it in maint. Maint takes a server
   * out of the balancing only: its established connections and requests in flight finish.
   */
  async setSlot(change: SlotChange): Promise<void> {
    const name = `${change.backend}/${change.server}`;
    const u = change.upstream;
    const command = u ? `set server ${name} addr ${u.host} port ${u.port}; set server ${name} state ready` : `set server ${name} state maint`;
    const answer = await cliCommand(this.socket, command);
    // Success is "IP changed from ..." / "no need to change ..." for addr, nothing for state.
    const refused = answer.split('\n').filter((l) => l.trim() && !/^(IP changed|no need to change|port changed)/.test(l));
    if (refused.length) throw new Error(`haproxy refused ${JSON.stringify(command)}: ${refused.join(' | ')}`);
  }

  /** The servers of a backend as haproxy runs them (`show servers state`): name, address, port, taking traffic or not. */
  async servers(backend: string): Promise<{ server: string; host: string; port: number; up: boolean }[]> {
    const answer = await cliCommand(this.socket, `show servers state ${backend}`);
    const rows = answer.split('\n').filter((l) => l.trim() && !l.startsWith('#') && l.includes(' '));
    if (!rows.length) throw new Error(`haproxy has no servers for ${backend}: ${answer.trim()}`);
    return rows.map((l) => {
      const f = l.split(' ');
      // srv_op_state 0: stopped (in maint, or disabled in the config and never readied).
      return { server: f[3]!, host: f[4]!, port: Number(f[18]), up: Number(f[5]) !== 0 };
    });
  }
}

/**
 * What the runtime API must do to go from `before` to `after` (backend -> slots): one change
 * per slot whose endpoint differs. Backends whose slot count changed, or that are new, are
 * not listed: that is a change of the config's shape, for a reload.
 */
export function slotChanges(before: ReadonlyMap<string, Slots>, after: ReadonlyMap<string, Slots>): SlotChange[] {
  const key = (u: Upstream | undefined) => (u ? `${u.host}:${u.port}` : '');
  const changes: SlotChange[] = [];
  for (const [backend, slots] of after) {
    const was = before.get(backend);
    if (was?.length !== slots.length) continue;
    slots.forEach((u, i) => {
      if (key(u) !== key(was[i])) changes.push({ backend, server: slotServer(i), upstream: u });
    });
  }
  return changes;
}
