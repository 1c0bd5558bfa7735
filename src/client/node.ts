// `signonce/client/node`: a TokenCache in one encrypted file per access group, for the apps of one
// publisher on a device (Electron apps, CLIs, services) — the counterpart of a shared keychain
// group. Sealed with AES-256-GCM under a key from a KeySource, the access group bound in as
// additional data; written atomically (temporary file, fsync, rename); changes made exclusive
// across processes with a lock file (proper-lockfile: a lock whose holder died goes stale).
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { link, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import lockfile from 'proper-lockfile';
import type { TokenCache } from './cache.ts';

export { BrowserStorageCache, MemoryCache, type TokenCache } from './cache.ts';

/** Where the 256-bit key of a cache file comes from (an environment variable, a key file, an OS keyring). */
export type KeySource = () => Promise<Buffer>;

function keyFrom(text: string, where: string): Buffer {
  const key = Buffer.from(text.trim(), 'base64url');
  if (key.length !== 32 || key.toString('base64url') !== text.trim())
    throw new Error(`${where} does not hold a 256-bit key in base64url (signonce keys generate makes one)`);
  return key;
}

/** The key in an environment variable (base64url, as `signonce keys generate` prints). */
export function envKeySource(name = 'SIGNONCE_CLIENT_KEY'): KeySource {
  return async () => {
    const value = process.env[name];
    if (!value) throw new Error(`the environment variable ${name} is not set`);
    return keyFrom(value, `the environment variable ${name}`);
  };
}

/**
 * The key in a file readable by the owner only, made (at random) by the first app that needs it:
 * written whole to a temporary file and linked into place, so no app ever reads half a key.
 */
export function fileKeySource(path: string): KeySource {
  return async () => {
    const temporary = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    await writeFile(temporary, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600 });
    try {
      await link(temporary, path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    } finally {
      await rm(temporary, { force: true });
    }
    return keyFrom(await readFile(path, 'utf8'), path);
  };
}

export interface EncryptedFileCacheOptions {
  /** The file of the access group (one per group). */
  readonly file: string;
  /** The access group: sealed into the file, so a file written for another group is not used. */
  readonly group: string;
  readonly key: KeySource;
  /** Told when the file cannot be used (another group's, tampered, another key): it is then treated as empty. */
  readonly onWarning?: (message: string) => void;
  /** A lock not refreshed for this long belongs to a process that died, and is taken over; default 5000 (at least 2000). */
  readonly staleLockMs?: number;
}

interface SealedFile {
  v: 1;
  group: string;
  iv: string;
  data: string;
  tag: string;
}

export class EncryptedFileCache implements TokenCache {
  readonly #options: EncryptedFileCacheOptions;
  readonly #aad: Buffer;
  #key: Promise<Buffer> | undefined;

  constructor(options: EncryptedFileCacheOptions) {
    this.#options = options;
    this.#aad = Buffer.from(`signonce-client-cache:v1:${options.group}`);
  }

  async get(key: string): Promise<string | undefined> {
    return (await this.#load())[key];
  }

  async set(key: string, value: string): Promise<void> {
    await this.#save({ ...(await this.#load()), [key]: value });
  }

  async delete(key: string): Promise<void> {
    const values = await this.#load();
    delete values[key];
    await this.#save(values);
  }

  async exclusive<T>(change: () => Promise<T>): Promise<T> {
    const stale = Math.max(this.#options.staleLockMs ?? 5000, 2000);
    const release = await lockfile.lock(this.#options.file, {
      realpath: false,
      stale,
      update: Math.floor(stale / 2),
      retries: { retries: Math.ceil((stale * 3) / 50), minTimeout: 20, maxTimeout: 100 },
    });
    try {
      return await change();
    } finally {
      await release();
    }
  }

  async #load(): Promise<Record<string, string>> {
    let text: string;
    try {
      text = await readFile(this.#options.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw error;
    }
    // A key that cannot be had is the app's configuration problem: said, not taken for an empty file.
    const key = await this.#keyOf();
    try {
      const sealed = JSON.parse(text) as SealedFile;
      if (sealed.v !== 1 || sealed.group !== this.#options.group)
        throw new Error(`it was written for the access group ${JSON.stringify(sealed.group)}`);
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(sealed.iv, 'base64url'));
      decipher.setAAD(this.#aad);
      decipher.setAuthTag(Buffer.from(sealed.tag, 'base64url'));
      return JSON.parse(
        Buffer.concat([decipher.update(Buffer.from(sealed.data, 'base64url')), decipher.final()]).toString('utf8'),
      ) as Record<string, string>;
    } catch (error) {
      const reason = /authenticate/.test((error as Error).message)
        ? 'it was tampered with or sealed under another key'
        : (error as Error).message;
      (this.#options.onWarning ?? ((message) => process.emitWarning(message, 'SignOnceCacheWarning')))(
        `${this.#options.file} is not used (${reason}): treated as empty`,
      );
      return {};
    }
  }

  /** The new contents in a temporary file, flushed, then renamed over the old: never half a file. */
  async #save(values: Record<string, string>): Promise<void> {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', await this.#keyOf(), iv);
    cipher.setAAD(this.#aad);
    const data = Buffer.concat([cipher.update(JSON.stringify(values), 'utf8'), cipher.final()]);
    const sealed: SealedFile = {
      v: 1,
      group: this.#options.group,
      iv: iv.toString('base64url'),
      data: data.toString('base64url'),
      tag: cipher.getAuthTag().toString('base64url'),
    };
    const temporary = `${this.#options.file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    const handle = await open(temporary, 'w', 0o600);
    try {
      await handle.writeFile(JSON.stringify(sealed));
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await rename(temporary, this.#options.file);
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
    // The rename itself survives a crash once the folder is flushed.
    const folder = await open(dirname(this.#options.file), 'r');
    try {
      await folder.sync();
    } finally {
      await folder.close();
    }
  }

  #keyOf(): Promise<Buffer> {
    this.#key ??= this.#options.key().catch((error: unknown) => {
      this.#key = undefined;
      throw error;
    });
    return this.#key;
  }
}
