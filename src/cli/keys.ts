// `signonce keys generate`: a new key for secrets.encryptionKeys.
// `signonce keys rotate`: every stored value re-sealed under the first of secrets.encryptionKeys.
// `signonce keys status`: what each encryption key still protects, so an old one is removed safely.
// `signonce keys rotate-signing`: a new key signs authentication tokens from now on.
import { Keyring, generateKey } from '../crypto/keyring.ts';
import type { KeyUsage, ResealPosition } from '../store/index.ts';
import { SIGNING_ALGORITHMS, type SigningAlgorithm } from '../crypto/signing-keys.ts';
import { rotateSigningKey } from '../session/authentication-tokens.ts';
import { auditCommand, parseOptions, usageError, withConfiguredStore } from './usage.ts';

export const usage = [
  'signonce keys generate    print a new random 256-bit key (base64url) for secrets.encryptionKeys',
  'signonce keys rotate [--config FILE] [--batch-size N]',
  '                          re-seal every stored value under the first key of secrets.encryptionKeys',
  '                          (batched; safe to interrupt and run again; instances keep serving)',
  'signonce keys status [--config FILE]',
  '                          how many stored values and session cookies each key protects, and which',
  '                          keys can be removed from secrets.encryptionKeys',
  `signonce keys rotate-signing [--config FILE] [--algorithm ${SIGNING_ALGORITHMS.join('|')}]`,
  '                          sign authentication tokens with a new key (EdDSA by default); the old one stays',
  '                          published until its tokens expire; running instances switch within a minute',
].join('\n  ');

async function rotateSigning(argv: string[]): Promise<number> {
  const options = parseOptions(
    argv,
    { config: { type: 'string' }, algorithm: { type: 'string', default: 'EdDSA' } },
    usage,
  );
  if (!options) return 2;
  const algorithm = options.algorithm as SigningAlgorithm;
  if (!SIGNING_ALGORITHMS.includes(algorithm))
    return usageError(
      usage,
      `--algorithm: ${JSON.stringify(algorithm)} is not one of ${SIGNING_ALGORITHMS.join(', ')}`,
    );
  return withConfiguredStore(options.config, async (config, store) => {
    const { added, retired } = await rotateSigningKey(store, algorithm);
    await auditCommand(store, {
      kind: 'key-rotated',
      outcome: 'success',
      detail: { key: 'signing', added: added.kid, alg: added.alg, retired: retired.map((key) => key.kid) },
    });
    const until = new Date(
      Date.now() + config.session.lifetime + config.session.tokenRefreshExtensionHours * 3_600_000,
    ).toISOString();
    process.stdout.write(`new signing key ${added.kid} (${added.alg}) signs from now on\n`);
    for (const key of retired)
      process.stdout.write(
        `retired ${key.kid} (${key.alg}): published until ${until}, when the last token it signed has expired\n`,
      );
    return 0;
  });
}

const DEFAULT_BATCH = 500;

/** One line per key: its role, what it still protects, and whether it can go. */
function describeUsage(usage: KeyUsage, keyIds: readonly string[], now: number): string {
  const ids = [
    ...new Set([
      ...keyIds,
      ...usage.sealed.map((u) => u.keyId),
      ...usage.sessions.flatMap((u) => (u.keyId ? [u.keyId] : [])),
    ]),
  ];
  const lines = ids.map((id, index) => {
    const sealed = usage.sealed.filter((u) => u.keyId === id);
    const values = sealed.reduce((n, u) => n + u.values, 0);
    const sessions = usage.sessions.find((u) => u.keyId === id);
    const role =
      index === 0 && keyIds.includes(id) ? 'seals new values' : keyIds.includes(id) ? 'opens only' : 'NOT CONFIGURED';
    const where = sealed.map((u) => `${u.table} ${u.values}`).join(', ');
    const cookies = sessions
      ? `${sessions.sessions} session(s) whose cookies it sealed, the last ending ${new Date(sessions.until).toISOString()}`
      : 'no session cookies';
    const verdict =
      role === 'seals new values'
        ? ''
        : values > 0
          ? ' -> still needed: run `signonce keys rotate`'
          : sessions && sessions.until > now
            ? ' -> still needed by those cookies (or remove it and those users sign in again)'
            : ' -> can be removed';
    return `${id}  ${role}: ${values} value(s)${where ? ` (${where})` : ''}; ${cookies}${verdict}`;
  });
  const unrecorded = usage.sessions.find((u) => u.keyId === null);
  if (unrecorded) {
    lines.push(
      `${unrecorded.sessions} session(s) issued before SignOnce recorded the key of their cookies, the last ending ` +
        `${new Date(unrecorded.until).toISOString()}: keep the keys of that time until then`,
    );
  }
  return `${lines.join('\n')}\n`;
}

async function status(argv: string[]): Promise<number> {
  const options = parseOptions(argv, { config: { type: 'string' } }, usage);
  if (!options) return 2;
  return withConfiguredStore(options.config, async (config, store) => {
    process.stdout.write(
      describeUsage(await store.keyUsage(), new Keyring(config.secrets.encryptionKeys).keyIds, Date.now()),
    );
    return 0;
  });
}

async function rotate(argv: string[]): Promise<number> {
  const options = parseOptions(
    argv,
    { config: { type: 'string' }, 'batch-size': { type: 'string', default: String(DEFAULT_BATCH) } },
    usage,
  );
  if (!options) return 2;
  const batchSize = Number(options['batch-size']);
  if (!Number.isInteger(batchSize) || batchSize < 1)
    return usageError(usage, `--batch-size: ${JSON.stringify(options['batch-size'])} is not a positive whole number`);
  return withConfiguredStore(options.config, async (config, store) => {
    const keyIds = new Keyring(config.secrets.encryptionKeys).keyIds;
    const before = await store.keyUsage();
    const unknown = before.sealed.filter((u) => !keyIds.includes(u.keyId));
    if (unknown.length) {
      process.stderr.write(
        `${unknown.map((u) => `${u.values} value(s) in ${u.table} are sealed under key ${u.keyId}`).join('\n')}\n` +
          'which is not in secrets.encryptionKeys: add it back (after the new key) so they can be opened and re-sealed\n',
      );
      return 1;
    }
    const total = before.sealed.filter((u) => u.keyId !== keyIds[0]).reduce((n, u) => n + u.values, 0);
    process.stderr.write(`re-sealing ${total} value(s) under key ${keyIds[0]}\n`);
    let done = 0;
    let position: ResealPosition | undefined;
    do {
      const batch = await store.resealBatch(batchSize, position);
      done += batch.values;
      position = batch.next;
      if (process.stderr.isTTY) process.stderr.write(`\rre-sealed ${done} of ${total}`);
    } while (position);
    process.stderr.write(`${process.stderr.isTTY ? '\n' : ''}re-sealed ${done} value(s)\n`);
    await auditCommand(store, {
      kind: 'key-rotated',
      outcome: 'success',
      detail: { key: 'encryption', sealedUnder: keyIds[0], resealed: done },
    });
    process.stdout.write(describeUsage(await store.keyUsage(), keyIds, Date.now()));
    return 0;
  });
}

export async function run(argv: string[]): Promise<number> {
  if (argv[0] === 'rotate') return rotate(argv.slice(1));
  if (argv[0] === 'status') return status(argv.slice(1));
  if (argv[0] === 'generate' && argv.length === 1) {
    process.stdout.write(`${generateKey()}\n`);
    return 0;
  }
  if (argv[0] === 'rotate-signing') return rotateSigning(argv.slice(1));
  return usageError(usage);
}
