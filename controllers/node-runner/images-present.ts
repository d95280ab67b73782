import { injectable } from 'inversify';

/** Images remembered at most; past it the oldest is forgotten (and asked about again). */
const KEPT = 1024;

/**
 * The images this host's engine was last seen to have, so that each create of a replica
 * does not first ask the engine (`hasImage`, a round trip on an engine that may be busy
 * with the other creates of a scale-up). An image removed behind the agent's back makes
 * the create fail with "No such image": the executor forgets it then, and the retry asks
 * the engine again and pulls (as `docker run` does after the same error).
 */
@injectable()
export class ImagesPresent {
  private readonly present = new Set<string>();

  has(ref: string): boolean {
    return this.present.has(ref);
  }

  saw(ref: string): void {
    this.present.delete(ref);
    this.present.add(ref);
    if (this.present.size > KEPT) this.present.delete(this.present.values().next().value!);
  }

  forget(ref: string): void {
    this.present.delete(ref);
  }
}
