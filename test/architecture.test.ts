// The layers of src/ (../shared/DESIGN.md, "Architecture"; DEVELOPERS.md "Layout"): each folder
// imports only from itself and from folders of lower layers, so data flows one way and there is no
// cycle. A new folder must be placed here, or this test fails.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));

// Lowest first; folders in one row never import each other.
const LAYERS: ReadonlyArray<readonly string[]> = [
  ['errors'],
  ['crypto', 'concurrency', 'log', 'client'],
  ['config'],
  ['store'],
  ['audit', 'providers'],
  ['accounts', 'refresh'],
  ['access'],
  ['session'],
  ['openid-provider'],
  ['gateway'],
  ['demo', 'verify'],
  ['cli'],
];
const layerOf = new Map(LAYERS.flatMap((folders, layer) => folders.map((folder) => [folder, layer] as const)));

async function sources(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const nested = await Promise.all(
    entries.map((e) =>
      e.isDirectory() ? sources(join(dir, e.name)) : Promise.resolve(e.name.endsWith('.ts') ? [join(dir, e.name)] : []),
    ),
  );
  return nested.flat();
}

const folderOf = (file: string) => relative(SRC, file).split(/[\\/]/)[0]!;

test('every folder of src/ has a layer, and imports only its own folder and lower layers', async () => {
  const files = await sources(SRC);
  const upward: string[] = [];
  for (const file of files) {
    const from = folderOf(file);
    assert.ok(layerOf.has(from), `src/${from}/ has no layer in test/architecture.test.ts`);
    const text = await readFile(file, 'utf8');
    for (const [, target] of text.matchAll(/^(?:import|export)[^'"]*?from '(\.[^']+)'/gm)) {
      const to = folderOf(resolve(file, '..', target!));
      if (to !== from && !(layerOf.get(to)! < layerOf.get(from)!)) upward.push(`${relative(SRC, file)} -> ${target}`);
    }
  }
  assert.deepEqual(upward, [], 'imports that run up a layer or across one');
});
