// One shape for SignOnce's errors, as jose's: each kind of failure is a class with a stable `code`
// (on the class and on its instances) that callers and the gateway's one mapping to HTTP answers
// (gateway/errors.ts) can rely on, where messages are for people and may change. `cause` is kept.
// The lowest layer: every folder may import it, and it imports nothing.

export abstract class CodedError extends Error {
  /** Stable for the class: `ERR_` and its name in capitals. */
  abstract readonly code: `ERR_${string}`;

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}
