import { PullError, type PullFailure } from '../../src/docker/pull-errors.js';
import type { DigestResolver } from '../../src/registry/digest-resolver.js';

/** A registry as the scheduler sees it: tags to digests, set by the test; failures on demand; calls counted. */
export class FakeDigestResolver implements DigestResolver {
  readonly tags = new Map<string, string>();
  readonly calls: string[] = [];
  failing: { kind: PullFailure; reason: string } | undefined;

  async resolve(image: string): Promise<string> {
    this.calls.push(image);
    if (this.failing) throw new PullError(image, this.failing.kind, this.failing.reason);
    const digest = this.tags.get(image);
    if (!digest) throw new PullError(image, 'notFound', 'HTTP 404: MANIFEST_UNKNOWN: manifest unknown');
    return digest;
  }
}
