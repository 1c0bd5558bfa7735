// oidc-provider's storage through SignOnce's Store (SQLite or PostgreSQL): its sessions,
// interactions, grants, codes and tokens are artifacts the Store keeps sealed, bearer values hashed.
//
// One rule is SignOnce's: a refresh token consumed (rotated) less than REUSE_WINDOW_MS ago is
// reported as not yet consumed, so concurrent refreshes by one client with the same token each get
// new tokens instead of tripping reuse detection, which revokes the whole grant. After the window,
// a reuse is treated as theft, as oidc-provider does (RFC 9700 section 4.14.2).
import type { Adapter, AdapterPayload } from 'oidc-provider';
import type { Store } from '../store/index.ts';

export const REUSE_WINDOW_MS = 10_000;

export function storeAdapter(store: Store, now: () => number = () => Date.now()): new (model: string) => Adapter {
  return class StoreAdapter implements Adapter {
    readonly #model: string;

    constructor(model: string) {
      this.#model = model;
    }

    async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
      await store.upsertOidcArtifact(
        this.#model,
        id,
        payload as Record<string, unknown>,
        expiresIn ? now() + expiresIn * 1000 : undefined,
      );
    }

    find(id: string): Promise<AdapterPayload | undefined> {
      return this.#found({ id });
    }

    findByUid(uid: string): Promise<AdapterPayload | undefined> {
      return this.#found({ uid });
    }

    findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      return this.#found({ userCode });
    }

    async consume(id: string): Promise<void> {
      await store.consumeOidcArtifact(this.#model, id);
    }

    async destroy(id: string): Promise<void> {
      await store.destroyOidcArtifact(this.#model, id);
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await store.revokeOidcGrant(grantId);
    }

    async #found(by: { id: string } | { uid: string } | { userCode: string }): Promise<AdapterPayload | undefined> {
      const artifact = await store.findOidcArtifact(this.#model, by);
      if (!artifact) return undefined;
      const { consumedAt } = artifact;
      const { consumed: _, ...payload } = artifact.payload;
      const withinReuseWindow =
        this.#model === 'RefreshToken' && consumedAt !== undefined && now() - consumedAt < REUSE_WINDOW_MS;
      return {
        ...payload,
        ...(consumedAt === undefined || withinReuseWindow ? {} : { consumed: Math.floor(consumedAt / 1000) }),
      } as AdapterPayload;
    }
  };
}
