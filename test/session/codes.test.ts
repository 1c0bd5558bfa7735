// The single-use codes of a sign-in and a sign-out (src/session/codes.ts) on a real store: the
// purposes and payloads stored are those of earlier versions, so a code issued before an upgrade
// (the store's own issueCode with the purpose string) is consumed after it, once, as its own kind only.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Keyring, generateKey } from '../../src/crypto/keyring.ts';
import { CODE_TTL_MS, consumeCode, issueCode, type CodeKind, type CodePayloads } from '../../src/session/codes.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import { tempDir } from '../support/tmp.ts';

const login = {
  provider: 'google',
  appId: 'app1',
  host: 'app1.example.com',
  redirect: '/home',
  browser: 'b-1',
  prompt: 'login',
  tokenMode: true,
  link: 'ref-1',
  interaction: 'uid-1',
};
// Each kind with the purpose string and payload earlier versions stored, and its lifetime.
const KINDS: { [K in CodeKind]: { purpose: string; payload: CodePayloads[K]; ttlMs: number } } = {
  'login-request': { purpose: 'login-request', payload: login, ttlMs: 5 * 60_000 },
  'login-state': { purpose: 'login-state', payload: { ...login, prompt: undefined }, ttlMs: 5 * 60_000 },
  handoff: {
    purpose: 'handoff',
    payload: { secret: 's-1', host: 'app1.example.com', redirect: '/home', browser: 'b-1', tokenMode: true },
    ttlMs: 60_000,
  },
  'oidc-login': {
    purpose: 'oidc-login',
    payload: {
      interaction: 'uid-1',
      accountId: 'account-1',
      authTime: 1_700_000_000_000,
      amr: ['pwd'],
      multiFactor: false,
    },
    ttlMs: 60_000,
  },
  'logout-return': {
    purpose: 'logout-return',
    payload: { host: 'app1.example.com', target: '/bye' },
    ttlMs: 5 * 60_000,
  },
};
const kinds = Object.keys(KINDS) as CodeKind[];

describe('sign-in codes', () => {
  let store: Store;
  let remove: () => Promise<void>;
  let clock = Date.UTC(2026, 10, 29, 12);

  before(async () => {
    const temp = await tempDir();
    remove = temp.remove;
    store = await openStore(`sqlite:${join(temp.dir, 'signonce.db')}`, {
      keyring: new Keyring([generateKey()]),
      now: () => clock,
    });
  });
  after(async () => {
    await store?.close();
    await remove?.();
  });

  for (const kind of kinds) {
    const { purpose, payload, ttlMs } = KINDS[kind];
    test(`${kind}: a code an earlier version issued is consumed once, with its payload`, async () => {
      const code = await store.issueCode(purpose, payload, ttlMs);
      assert.deepEqual(await consumeCode(store, kind, code), JSON.parse(JSON.stringify(payload)));
      assert.equal(await consumeCode(store, kind, code), undefined);
    });
    test(`${kind}: a code issued here is stored under "${purpose}", live ${ttlMs / 1000} s, and is no other kind's`, async () => {
      assert.equal(CODE_TTL_MS[kind], ttlMs);
      for (const other of kinds.filter((k) => k !== kind)) {
        const code = await issueCode(store, kind, payload);
        assert.equal(await consumeCode(store, other, code), undefined, `consumed as ${other}`);
      }
      const code = await issueCode(store, kind, payload);
      assert.deepEqual(await store.consumeCode(purpose, code), JSON.parse(JSON.stringify(payload)));
      const late = await issueCode(store, kind, payload);
      clock += ttlMs + 1;
      assert.equal(await consumeCode(store, kind, late), undefined, 'consumed after its lifetime');
    });
  }
});
