/**
 * The servers of a rendered haproxy.cfg, and how to go from one set to another through the
 * runtime API instead of a reload (HAProxy 2.6's dynamic servers: `add server`, `set server
 * ... state maint`, `del server`). Endpoints change far more often than routes (every
 * replica started, stopped or moved), and a reload re-reads the whole config, loads the
 * certificates again and forks a worker: most of a second on a busy host, during which a
 * stopping replica may still get requests. Pure: text in, plans out.
 */

/** One `server` line of a backend: its name and the rest of the line (address and options). */
export interface ServerLine {
  backend: string;
  name: string;
  spec: string;
}

/** `backend/name`, as the runtime API names a server. */
export function serverKey(s: Pick<ServerLine, 'backend' | 'name'>): string {
  return `${s.backend}/${s.name}`;
}

const SERVER_LINE = /^ {2}server (\S+) (.+)$/;

/**
 * The config without its server lines (what must be equal for servers alone to change at
 * runtime), and the server lines by backend, in order.
 */
export function splitServers(config: string): { skeleton: string; servers: ServerLine[] } {
  const kept: string[] = [];
  const servers: ServerLine[] = [];
  let backend: string | undefined;
  for (const line of config.split('\n')) {
    if (/^\S/.test(line)) backend = /^backend (\S+)/.exec(line)?.[1];
    const server = backend === undefined ? null : SERVER_LINE.exec(line);
    if (server) servers.push({ backend: backend!, name: server[1]!, spec: server[2]! });
    else kept.push(line);
  }
  return { skeleton: kept.join('\n'), servers };
}

/** What to do at runtime: servers to add, retired ones to take back, servers to retire. */
export interface ServerPlan {
  add: ServerLine[];
  revive: ServerLine[];
  retire: ServerLine[];
}

/**
 * From the servers haproxy runs to those wanted. `retiring` are servers already put in
 * maintenance but not yet deleted (connections still open): wanted again, they are revived.
 * Undefined when a server keeps its name but not its line (the runtime API cannot change a
 * server's options): then only a reload will do.
 */
export function planServers(running: readonly ServerLine[], wanted: readonly ServerLine[], retiring: ReadonlyMap<string, ServerLine>): ServerPlan | undefined {
  const before = new Map(running.map((s) => [serverKey(s), s]));
  const after = new Map(wanted.map((s) => [serverKey(s), s]));
  const plan: ServerPlan = { add: [], revive: [], retire: [] };
  for (const [key, s] of after) {
    const had = before.get(key) ?? retiring.get(key);
    if (had && had.spec !== s.spec) return undefined;
    if (before.has(key)) continue;
    if (had) plan.revive.push(s);
    else plan.add.push(s);
  }
  for (const [key, s] of before) if (!after.has(key)) plan.retire.push(s);
  return plan;
}
