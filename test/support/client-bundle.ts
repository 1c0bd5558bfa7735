// The browser build of signonce/client: one minified script (global `SignOnce`), as an app would
// bundle it. Used by the Chromium test and by bench/client-size.ts.
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

export async function browserClientBundle(): Promise<string> {
  const result = await build({
    entryPoints: [fileURLToPath(new URL('../../src/client/index.ts', import.meta.url))],
    bundle: true,
    minify: true,
    write: false,
    format: 'iife',
    globalName: 'SignOnce',
    platform: 'browser',
    target: 'es2022',
  });
  return result.outputFiles[0]!.text;
}
