// One app process of an access group, sharing an EncryptedFileCache with the others:
//   node group-member.ts signin  <appUrl> <app> <file> <handed-back URL>
//   node group-member.ts call    <appUrl> <app> <file> <startAt ms> <callers>
//   node group-member.ts write   <file>   (writes to the cache in a loop until killed)
//   node group-member.ts hold    <file>   (takes the cache's lock, says "locked", and keeps it)
// Prints one JSON line with what it saw. The key comes from SIGNONCE_CLIENT_KEY.
import { fetch as undiciFetch } from 'undici';
import { SignOnceClient } from '../../../src/client/index.ts';
import { EncryptedFileCache, envKeySource } from '../../../src/client/node.ts';
import { loopback } from '../../support/user-agent.ts';

const [command, ...args] = process.argv.slice(2);
const fetchLocal = ((input: string | URL, init?: object) =>
  undiciFetch(input, { ...init, dispatcher: loopback })) as unknown as typeof fetch;
const cacheOf = (file: string) =>
  new EncryptedFileCache({ file, group: 'suite', key: envKeySource(), staleLockMs: 2000 });
const clientOf = (url: string, app: string, file: string) =>
  new SignOnceClient({
    url,
    app,
    group: 'suite',
    cache: cacheOf(file),
    refreshBeforeSeconds: Number(process.env.REFRESH_BEFORE_S ?? 4),
    fetch: fetchLocal,
  });

if (command === 'signin') {
  const [url, app, file, handedBack] = args as [string, string, string, string];
  console.log(JSON.stringify(await clientOf(url, app, file).handleRedirectCallback(handedBack)));
} else if (command === 'call') {
  const [url, app, file, startAt, callers] = args as [string, string, string, string, string];
  const client = clientOf(url, app, file);
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, Number(startAt) - Date.now())));
  const tokens = await Promise.all(Array.from({ length: Number(callers) }, () => client.getAuthenticationToken()));
  const answer = await client.fetch(`${url}/as-the-user`);
  const { headers } = (await answer.json()) as { headers: Record<string, string> };
  console.log(JSON.stringify({ tokens, status: answer.status, name: headers['x-ms-client-principal-name'] }));
} else if (command === 'hold') {
  const cache = cacheOf(args[0]!);
  await cache.exclusive(() => new Promise(() => console.log('locked')));
} else if (command === 'write') {
  const cache = cacheOf(args[0]!);
  for (let i = 0; ; i++)
    await cache.exclusive(() => cache.set('group:suite', JSON.stringify({ n: i, padding: 'x'.repeat(4096) })));
}
