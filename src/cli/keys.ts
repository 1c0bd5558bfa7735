// `signonce keys generate`: a new key for secrets.encryptionKeys.
// `signonce keys rotate-signing`: a new key signs authentication tokens from now on.
import { generateKey } from '../crypto/keyring.ts';
import { SIGNING_ALGORITHMS, rotateSigningKey, type SigningAlgorithm } from '../crypto/signing-keys.ts';
import { parseOptions, usageError, withConfiguredStore } from './usage.ts';

export const usage = [
  'signonce keys generate    print a new random 256-bit key (base64url) for secrets.encryptionKeys',
  `signonce keys rotate-signing [--config FILE] [--algorithm ${SIGNING_ALGORITHMS.join('|')}]`,
  '                          sign authentication tokens with a new key (EdDSA by default); the old one stays',
  '                          published until its tokens expire; running instances switch within a minute',
].join('\n  ');

async function rotateSigning(argv: string[]): Promise<number> {
  const options = parseOptions(argv, { config: { type: 'string' }, algorithm: { type: 'string', default: 'EdDSA' } }, usage);
  if (!options) return 2;
  const algorithm = options.algorithm as SigningAlgorithm;
  if (!SIGNING_ALGORITHMS.includes(algorithm)) return usageError(usage, `--algorithm: ${JSON.stringify(algorithm)} is not one of ${SIGNING_ALGORITHMS.join(', ')}`);
  return withConfiguredStore(options.config, async (config, store) => {
    const { added, retired } = await rotateSigningKey(store, algorithm);
    const until = new Date(Date.now() + config.session.lifetime + config.session.tokenRefreshExtensionHours * 3_600_000).toISOString();
    process.stdout.write(`new signing key ${added.kid} (${added.alg}) signs from now on\n`);
    for (const key of retired) process.stdout.write(`retired ${key.kid} (${key.alg}): published until ${until}, when the last token it signed has expired\n`);
    return 0;
  });
}

export async function run(argv: string[]): Promise<number> {
  if (argv[0] === 'generate' && argv.length === 1) {
    process.stdout.write(`${generateKey()}\n`);
    return 0;
  }
  if (argv[0] === 'rotate-signing') return rotateSigning(argv.slice(1));
  return usageError(usage);
}
