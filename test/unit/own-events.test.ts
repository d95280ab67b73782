import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { OWN_EVENT_TTL_MS, OwnEvents } from '../../controllers/node-runner/own-events.js';
import { FakeClock } from './fake-clock.js';

const ev = (id: string, action: string, name = 'web-1') => ({ id, action, labels: { 'dokkaa.app': 'shop', name } });

describe('OwnEvents', () => {
  it('takes the create (by name) and start (by id) of a container the node runner made for its own', () => {
    const own = new OwnEvents(new FakeClock(0));
    own.creating('web-1');
    own.starting('c1');
    assert.equal(own.caused(ev('c1', 'create')), true);
    assert.equal(own.caused(ev('c1', 'start')), true);
    // Twice: the engine may repeat an action.
    assert.equal(own.caused(ev('c1', 'start')), true);
  });

  it('never takes a crash or a removal for its own: a die after a start, or of a later container of the same replica', () => {
    const own = new OwnEvents(new FakeClock(0));
    own.starting('c1');
    // A removal's events queue the reconcile that renames a start-first replacement.
    for (const action of ['kill', 'die', 'stop', 'destroy']) assert.equal(own.caused(ev('c1', action)), false, action);
    // The replacement of the same replica (same name, new id) crashes: a reason to reconcile.
    own.creating('web-1');
    own.starting('c2');
    assert.equal(own.caused(ev('c2', 'die')), false);
    assert.equal(own.caused(ev('c2', 'kill')), false);
  });

  it('tells apart what another container or another action did', () => {
    const own = new OwnEvents(new FakeClock(0));
    own.starting('c1');
    assert.equal(own.caused(ev('c9', 'start')), false);
    assert.equal(own.caused(ev('c9', 'kill')), false);
    assert.equal(own.caused(ev('c9', 'create', 'other-1')), false);
  });

  it('forgets what it expected once the time has passed', async () => {
    const clock = new FakeClock(0);
    const own = new OwnEvents(clock);
    own.starting('c1');
    await clock.advance(OWN_EVENT_TTL_MS + 1);
    assert.equal(own.caused(ev('c1', 'start')), false);
  });
});
