import { readFile } from 'node:fs/promises';
import { inject, injectable } from 'inversify';
import { registryHostOf, serverAddressOf } from '../../api/image-refs.js';
import type { Keys } from '../../api/keys.js';
import { checkRecord, RegistryRecord } from '../../api/records.js';
import type { Config } from '../config.js';
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
  private privateKey: Promise<string> | undefined;

  constructor(
    @inject(TYPES.KvStore) private readonly store: KvStore,
    @inject(TYPES.Keys) private readonly keys: Keys,
    @inject(TYPES.Config) private readonly config: Pick<Config, 'clusterKeyFile'>,
  ) {}

  async authFor(image: string): Promise<RegistryAuth | undefined> {
    const host = registryHostOf(image);
    const kv = await this.store.get(this.keys.registry(host));
    if (!kv) return undefined;
    const record = checkRecord(RegistryRecord, kv.value);
    if (!record.ok) throw new Error(`registries/${host}: ${record.error}`);
    const secret = JSON.parse(open(await this.key(host), record.value.sealed).toString()) as { password: string };
    return { username: record.value.username, password: secret.password, serveraddress: serverAddressOf(host) };
  }

  private key(host: string): Promise<string> {
    const file = this.config.clusterKeyFile;
    if (!file) return Promise.reject(new Error(`credentials for ${host} are stored, but this agent has no --cluster-key-file to open them`));
    // Read once: a failed read is not kept, so fixing the file takes effect without a restart.
    this.privateKey ??= readFile(file, 'utf8').then((text) => text.trim()).catch((err: unknown) => {
      this.privateKey = undefined;
      throw new Error(`cluster key file ${file}: ${(err as Error).message}`);
    });
    return this.privateKey;
  }
}
