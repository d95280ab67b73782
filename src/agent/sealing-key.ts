import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inject, injectable } from 'inversify';
import { DEFAULT_STATE_DIR, type Config } from '../config.js';
import { generateSealKeyPair, open, publicKeyOf, type SealedEnvelope } from '../crypto/seal.js';
import { TYPES } from '../ioc/tokens.js';

/**
 * This host's own X25519 key: the secrets controller seals each secret a host needs to its
 * public half (published in the node record as `sealingKey`), so only this host opens it.
 * Made on first use and kept at `<state-dir>/<node>/sealing.key` (mode 0600), so sealed
 * copies made before an agent restart still open after it. Throws if the file cannot be
 * read or made.
 */
@injectable()
export class SealingKey {
  private privateKey: string | undefined;

  constructor(@inject(TYPES.Config) private readonly config: Pick<Config, 'node' | 'stateDir'>) {}

  get file(): string {
    return join(this.config.stateDir ?? DEFAULT_STATE_DIR, this.config.node, 'sealing.key');
  }

  publicKey(): string {
    return publicKeyOf(this.load());
  }

  open(sealed: SealedEnvelope): Buffer {
    return open(this.load(), sealed);
  }

  private load(): string {
    if (this.privateKey) return this.privateKey;
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8').trim();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      mkdirSync(join(this.file, '..'), { recursive: true, mode: 0o700 });
      text = generateSealKeyPair().privateKey;
      // `wx`: two processes of one node racing must not end with two keys.
      writeFileSync(this.file, `${text}\n`, { mode: 0o600, flag: 'wx' });
    }
    this.privateKey = text;
    return text;
  }
}
