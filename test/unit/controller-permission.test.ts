import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { Subject } from 'rxjs';
import winston from 'winston';
import { EtcdPermissionDeniedError } from 'etcd3';
import { Controller } from '../../src/controller/controller.js';
import { FakeClock } from './fake-clock.js';

/** A logger whose lines are kept, to count what a controller said. */
function capturingLogger(): { log: winston.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { log: winston.createLogger({ level: 'info', format: winston.format.json(), transports: [new winston.transports.Stream({ stream })] }), lines };
}

describe('Controller, when etcd refuses for lack of permission', () => {
  for (const [what, error] of [
    ['a refused write (EtcdPermissionDeniedError)', () => new EtcdPermissionDeniedError('etcdserver: permission denied')],
    ['a refused watch (a plain error naming the denial)', () => new Error('Watcher canceled: rpc error: code = PermissionDenied desc = etcdserver: permission denied')],
  ] as const) {
    it(`logs ${what} once per key, with the key and the etcd user, and retries only at the longest delay`, async () => {
      const clock = new FakeClock();
      const events = new Subject<string>();
      const calls: number[] = [];
      let denied = true;
      const { log, lines } = capturingLogger();
      const controller = new Controller(
        {
          name: 'test',
          reconciler: {
            reconcile: async () => {
              calls.push(clock.now());
              if (denied) throw error();
            },
          },
          sources: [events],
          listKeys: async () => [],
          resyncMs: 3_600_000,
          baseDelayMs: 100,
          maxDelayMs: 30_000,
          etcdUser: 'node-h1',
        },
        clock,
        log,
      );
      await controller.start();
      events.next('a');
      await clock.advance(95_000);
      assert.deepEqual(calls, [0, 30_000, 60_000, 90_000], 'no fast retry: the longest delay each time');
      const refusals = lines.filter((l) => String(l.message).includes('permission denied'));
      assert.equal(refusals.length, 1, 'said once');
      assert.equal(refusals[0]!.key, 'a');
      assert.equal(refusals[0]!.etcdUser, 'node-h1');
      assert.equal(refusals[0]!.level, 'warn');
      // Granted at last: it succeeds, and a later refusal is told again.
      denied = false;
      await clock.advance(30_000);
      assert.equal(calls.length, 5);
      denied = true;
      events.next('a');
      await clock.advance(0);
      assert.equal(lines.filter((l) => String(l.message).includes('permission denied')).length, 2);
      await controller.stop();
    });
  }
});
