// `signonce keys generate`: a new key for secrets.encryptionKeys.
import { generateKey } from '../crypto/keyring.ts';
import { usageError } from './usage.ts';

export const usage = 'signonce keys generate    print a new random 256-bit key (base64url) for secrets.encryptionKeys';

export async function run(argv: string[]): Promise<number> {
  if (argv.length !== 1 || argv[0] !== 'generate') return usageError(usage);
  process.stdout.write(`${generateKey()}\n`);
  return 0;
}
