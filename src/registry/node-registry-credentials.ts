import { inject, injectable } from 'inversify';
import { registryHostOf, serverAddressOf } from '../../api/image-refs.js';
import type { Keys } from '../../api/keys.js';
import { checkRecord, decodeRecord, RegistryRecord, SealedCopyRecord } from '../../api/records.js';
import { SealingKey } from '../agent/sealing-key.js';
import type { Config } from '../config.js';
import type { RegistryAuth } from '../docker/container-engine.js';
import { CredentialsPending } from '../docker/pull-errors.js';
import type { KvStore } from '../etcd/kv-store.js';
import { TYPES } from '../ioc/tokens.js';

/**
 * What an agent pulls with: the credentials stored for an image's registry
 * (`registries/<host>`), from this node's own sealed copy (`sealed-registries/<node>/<host>`,
 * made by the secrets controller) opened with the node's sealing key, so agents need no
 * cluster key. Read fresh for each pull, so a new login applies to the next one.
 * Resolves undefined when the registry has no credentials stored (an anonymous pull); rejects
 * with CredentialsPending while the node's copy is missing, older than the latest login, or
 * sealed to another key (the controller seals it again); with an Error for a bad record.
 */
@injectable()
export class NodeRegistryCredentials {
  constructor(
    @inject(TYPES.KvStore) private readonly store: KvStore,
    @inject(TYPES.Keys) private readonly keys: Keys,
    @inject(TYPES.Config) private readonly config: Pick<Config, 'node'>,
    @inject(SealingKey) private readonly sealingKey: SealingKey,
  ) {}

  async authFor(image: string): Promise<RegistryAuth | undefined> {
    const host = registryHostOf(image);
    const [kv, copyKv] = await Promise.all([this.store.get(this.keys.registry(host)), this.store.get(this.keys.sealedRegistry(this.config.node, host))]);
    if (!kv) return undefined;
    const record = checkRecord(RegistryRecord, kv.value);
    if (!record.ok) throw new Error(`registries/${host}: ${record.error}`);
    // The copy's version is the registry record's mod revision it was sealed from.
    const copy = decodeRecord(SealedCopyRecord, copyKv?.value);
    if (!copy || copy.version < kv.modRevision) throw new CredentialsPending(host);
    let opened: Buffer;
    try {
      opened = this.sealingKey.open(copy.sealed);
    } catch {
      throw new CredentialsPending(host);
    }
    const secret = JSON.parse(opened.toString()) as { password: string };
    return { username: record.value.username, password: secret.password, serveraddress: serverAddressOf(host) };
  }
}
