/**
 * Node's own flags for Dokkaa's long-running processes (`dokkaa agent`, `dokkaa controller`,
 * `dokkaa up`, and the processes the lab and the scale bench start).
 *
 * A young generation of up to 32 MB per semi-space, where V8 stops growing it at 16: agents
 * and controllers allocate many short-lived objects for every watch event and engine call
 * (gRPC frames, decoded records, JSON), and a larger nursery collects them in fewer
 * scavenges. Measured side by side with `npm run bench -- scale` at 100 hosts x 100 replicas
 * (bench/results/scale.md, ninth session): all Running in 28-32 s instead of 41 s, with about a
 * fifth less CPU in the agents and controllers; a busy process's resident memory grows by up
 * to 32 MB, an idle one's not at all (the nursery grows only under allocation).
 *
 * `bin/dokkaa.js` (its `#!` line) and `scripts/start.sh` carry the same flags; a unit test
 * keeps them so.
 */
export const DAEMON_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=32'];
