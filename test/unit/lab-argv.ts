import assert from 'node:assert/strict';
import { DAEMON_NODE_FLAGS } from '../../src/daemon-node-flags.js';

/** What follows bin/dokkaa.js in a lab process's command line, after checking that Node and the daemons' flags come before it. */
export function dokkaaArgs(argv: string[]): string[] {
  const bin = argv.findIndex((a) => a.endsWith('/bin/dokkaa.js'));
  assert.deepEqual(argv.slice(1, bin), [...DAEMON_NODE_FLAGS], "Node runs with the daemons' flags");
  return argv.slice(bin + 1);
}
