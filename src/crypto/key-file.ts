import { readFile } from 'node:fs/promises';

/**
 * A private key kept in a file (base64 of its raw bytes, as `dokkaa cluster-key init` writes
 * it), read on first use. A failed read is not kept, so fixing the file takes effect without
 * a restart. `flag` names the setting in errors (`--cluster-key-file`).
 */
export class KeyFile {
  private key: Promise<string> | undefined;

  constructor(private readonly file: string | undefined, private readonly flag: string) {}

  /** The key; rejects when no file is configured (saying what needed it) or it cannot be read. */
  read(neededFor: string): Promise<string> {
    const file = this.file;
    if (!file) return Promise.reject(new Error(`${neededFor}, but this process has no ${this.flag}`));
    this.key ??= readFile(file, 'utf8').then((text) => text.trim()).catch((err: unknown) => {
      this.key = undefined;
      throw new Error(`${this.flag} ${file}: ${(err as Error).message}`);
    });
    return this.key;
  }
}
