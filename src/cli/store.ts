// `signonce store migrate --from URL --to URL`: copies one store into another (SQLite to PostgreSQL
// or back), raw, so it needs no config and no keys. Progress goes to stderr, the summary to stdout.
import { existsSync } from 'node:fs';
import { storeLocation } from '../store/index.ts';
import { TargetNotEmptyError, copyStore, openForCopy, type CopyResult } from '../store/copy.ts';
import type { SqlDriver } from '../store/driver.ts';
import { parseCommandLine, usageError } from './usage.ts';

export const usage = [
  'signonce store migrate --from URL --to URL [--merge] [--batch-size N]',
  '                          copy everything (accounts, identities, tokens, sessions, keys) from one store to',
  '                          another (sqlite:PATH, postgres://…); resumes an interrupted copy; refuses a target',
  '                          holding other data unless --merge (rows already there are kept)',
].join('\n  ');

/** The message of `error`, with the URLs' passwords blotted out should a client have quoted them. */
function safeMessage(error: unknown, ...urls: string[]): string {
  let message = (error as Error).message;
  for (const url of urls.filter((u) => URL.canParse(u)).map((u) => new URL(u))) {
    const secrets = [url.password, decodeURIComponent(url.password), url.searchParams.get('password') ?? ''];
    for (const secret of secrets.filter(Boolean)) message = message.replaceAll(secret, '***');
  }
  return message;
}

function printSummary(result: CopyResult): void {
  const header = ['table', 'source', 'target', 'copied now', 'already there'];
  const lines = [
    header,
    ...result.tables.map((t) => [t.table, ...[t.source, t.target, t.copied, t.skipped].map(String)]),
  ];
  const widths = header.map((_, i) => Math.max(...lines.map((line) => line[i]!.length)));
  for (const line of lines) {
    process.stdout.write(
      `${line.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ')}\n`,
    );
  }
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommandLine(
    argv,
    {
      from: { type: 'string' },
      to: { type: 'string' },
      merge: { type: 'boolean', default: false },
      'batch-size': { type: 'string', default: '1000' },
    },
    usage,
  );
  if (!parsed) return 2;
  const { from, to, merge } = parsed.values;
  if (parsed.positionals.join(' ') !== 'migrate') return usageError(usage);
  if (!from || !to) return usageError(usage, '--from and --to are required');
  const batchSize = Number(parsed.values['batch-size']);
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 100_000)
    return usageError(usage, '--batch-size: a whole number from 1 to 100000');
  const located: string[] = [];
  for (const [option, url] of [
    ['--from', from],
    ['--to', to],
  ] as const) {
    try {
      located.push(storeLocation(url));
    } catch (error) {
      return usageError(usage, `${option}: ${(error as Error).message}`);
    }
  }
  const [source, target] = located as [string, string];
  if (source === target) return usageError(usage, `--from and --to name the same store (${source})`);
  // Opening a missing SQLite file would create an empty store, and copy nothing from it.
  if (source.startsWith('sqlite:') && !existsSync(source.slice('sqlite:'.length))) {
    process.stderr.write(`cannot open the source store: there is no file ${source.slice('sqlite:'.length)}\n`);
    return 1;
  }

  const opened: SqlDriver[] = [];
  try {
    for (const [side, url, location] of [
      ['source', from, source],
      ['target', to, target],
    ] as const) {
      try {
        opened.push(await openForCopy(url));
      } catch (error) {
        process.stderr.write(`cannot open the ${side} store ${location}: ${safeMessage(error, url)}\n`);
        return 1;
      }
    }
    const [fromDb, toDb] = opened as [SqlDriver, SqlDriver];
    const tty = process.stderr.isTTY;
    let result: CopyResult;
    try {
      result = await copyStore(fromDb, toDb, {
        source,
        merge,
        batchSize,
        now: Date.now,
        progress(table, done, total, finished) {
          // On a terminal one line per table, rewritten as it goes; in a log, a line per table done.
          if (tty) process.stderr.write(`\r\x1b[K${table}: ${done}/${total}${finished ? '\n' : ''}`);
          else if (finished) process.stderr.write(`${table}: ${done}/${total}\n`);
        },
      });
    } catch (error) {
      if (error instanceof TargetNotEmptyError) {
        process.stderr.write(
          `the target store ${target} is not empty (${Object.entries(error.rows)
            .map(([t, n]) => `${t}: ${n}`)
            .join(', ')}) ` +
            `and holds no interrupted copy from ${source}.\nTo add the source's rows to it anyway (rows already in the target are kept, ` +
            'source rows with the same keys are skipped), run again with --merge.\n',
        );
        return 2;
      }
      process.stderr.write(
        `${tty ? '\n' : ''}the copy failed: ${safeMessage(error, from, to)}\nWhat was copied is kept: run the same command again to resume.\n`,
      );
      return 1;
    }

    if (result.start === 'resumed') process.stderr.write(`resumed the copy from ${source} interrupted earlier\n`);
    if (result.start === 'done-before' && !merge)
      process.stderr.write(`the copy from ${source} had finished before: nothing copied, counts checked\n`);
    for (const name of result.differingSecrets) {
      process.stderr.write(
        `warning: instance secret "${name}" differs between the stores and the target's is kept: what the source ` +
          'derived from it (pairwise ids apps keep, links of external identities, e-mail keys) does not match in the target\n',
      );
    }
    printSummary(result);
    // A plain copy must leave the target exactly as full as the source; a merge at least as full.
    const short = result.tables.filter((t) => (merge ? t.target < t.source : t.target !== t.source));
    if (short.length) {
      process.stderr.write(
        `counts differ: ${short.map((t) => `${t.table} (source ${t.source}, target ${t.target})`).join(', ')}.\n` +
          'Rows written to or deleted from the source during the copy? Stop the writers, then run again with --merge to add what is missing.\n',
      );
      return 1;
    }
    const skipped = result.tables.reduce((sum, t) => sum + t.skipped, 0);
    process.stdout.write(
      `copied ${source} to ${target}: counts verified${skipped ? `; ${skipped} source rows were in the target already (kept as they were)` : ''}\n`,
    );
    return 0;
  } finally {
    for (const db of opened) await db.close();
  }
}
