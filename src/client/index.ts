// `signonce/client`: the client of apps behind SignOnce, for browsers and Node (no Node-only
// import here; the encrypted file cache is `signonce/client/node`).
export {
  SignOnceClient,
  SignOnceError,
  type SignOnceClientOptions,
  type SignOnceErrorCode,
  type SignedInUser,
} from './client.ts';
export { BrowserStorageCache, MemoryCache, type StorageLike, type TokenCache } from './cache.ts';
