import { inject, injectable } from 'inversify';
import type { Clock } from '../../src/clock.js';
import type { ContainerEvent } from '../../src/docker/container-engine.js';
import { TYPES } from '../../src/ioc/tokens.js';

/** How long an engine event the node runner caused is expected: far longer than the engine takes to report it. */
export const OWN_EVENT_TTL_MS = 60_000;

/**
 * The engine events the node runner caused itself (client-go's controller expectations):
 * the create and start of a container it made. The reconcile that acted inspects the
 * container afterwards and writes what it found, so reconciling the replica again for each
 * of these events (a list and an inspect each, and a worker of the node runner's limited
 * number) learns nothing. Not the events of a container it stopped or removed: a start-first
 * update renames the new container in the reconcile that a removal's destroy event queues. Expected by
 * container id, which is never reused, so a crash of a later container of the same
 * replica is never taken for one of these; a create, whose id is not known before the
 * call, by the container's name. Entries expire; none is consumed (the engine may repeat an action).
 */
@injectable()
export class OwnEvents {
  private readonly expected = new Map<string, number>();

  constructor(@inject(TYPES.Clock) private readonly clock: Clock) {}

  /** The executor is about to create the container named `name`. */
  creating(name: string): void {
    this.expect(`name ${name} create`);
  }

  /** The executor is about to start container `id`. */
  starting(id: string): void {
    this.expect(`id ${id} start`);
  }

  /** Whether the engine event is one the node runner caused (Docker's attributes carry the container's `name` beside its labels). */
  caused(ev: ContainerEvent): boolean {
    const now = this.clock.now();
    const name = ev.labels['name'];
    const key = ev.action === 'create' && name !== undefined ? `name ${name} create` : `id ${ev.id} ${ev.action}`;
    const until = this.expected.get(key);
    if (until === undefined) return false;
    if (until < now) {
      this.expected.delete(key);
      return false;
    }
    return true;
  }

  private expect(key: string): void {
    const now = this.clock.now();
    this.expected.set(key, now + OWN_EVENT_TTL_MS);
    // Forget what expired, now and then: an agent runs for months.
    if (this.expected.size > 1024) for (const [k, until] of this.expected) if (until < now) this.expected.delete(k);
  }
}
