import { inject, injectable } from 'inversify';
import { registryHostOf, serverAddressOf } from '../../api/image-refs.js';
import type { Keys } from '../../api/keys.js';
import { checkRecord, RegistryRecord } from '../../api/records.js';
import type { Config } from '../config.js';
import { KeyFile } from '../crypto/key-file.js';
import { open } from '../crypto/seal.js';
import type { RegistryAuth } from '../docker/container-engine.js';
import type { KvStore } from '../etcd/kv-store.js';
import { TYPES } from '../ioc/tokens.js';

/**
 * The credentials stored for an image's registry (`registries/<host>`), opened with the
 * cluster key's private half read from `--cluster-key-file`. Read fresh for each pull, so a
 * new login applies to the next one. Rejects when credentials are stored but cannot be opened.
 */
@injectable()
export class RegistryCredentials {
  private readonly clusterKey: KeyFile;

  constructor(
    @inject(TYPES.KvStore) private readonly store: KvStore,
    @inject(TYPES.Keys) private readonly keys: Keys,
    @inject(TYPES.Config) config: Pick<Config, 'clusterKeyFile'>,
  ) {
    this.clusterKey = new KeyFile(config.clusterKeyFile, '--cluster-key-file');
  }

  async authFor(image: string): Promise<RegistryAuth | undefined> {
    const host = registryHostOf(image);
    const kv = await this.store.get(this.keys.registry(host));
    if (!kv) return undefined;
    const record = checkRecord(RegistryRecord, kv.value);
    if (!record.ok) throw new Error(`registries/${host}: ${record.error}`);
    const secret = JSON.parse(open(await this.clusterKey.read(`credentials for ${host} are stored`), record.value.sealed).toString()) as { password: string };
    return { username: record.value.username, password: secret.password, serveraddress: serverAddressOf(host) };
  }
}
