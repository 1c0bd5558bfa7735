// One at a time per key, within this process: callers with the same key run one after another,
// in no particular order; different keys run side by side.

const ignore = () => undefined;

export class KeyedMutex {
  readonly #running = new Map<string, Promise<unknown>>();

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    while (this.#running.has(key)) await this.#running.get(key)!.catch(ignore);
    const running = fn();
    this.#running.set(key, running);
    try {
      return await running;
    } finally {
      this.#running.delete(key);
    }
  }
}
