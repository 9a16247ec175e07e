// Unbounded in-memory adapter for oidc-provider.
//
// oidc-provider's built-in memory adapter is an LRU of 1,000 entries: under load it
// evicts consumed refresh tokens, and a replayed refresh token then reads as "not
// found" instead of "already used", so reuse detection silently stops working.
// This one keeps every entry until it expires.

const stores = new Map(); // model name -> Map(id -> { payload, expiresAt })

const nowSec = () => Math.floor(Date.now() / 1000);

function storeFor(model) {
  if (!stores.has(model)) stores.set(model, new Map());
  return stores.get(model);
}

export default class MemoryAdapter {
  constructor(model) {
    this.model = model;
    this.store = storeFor(model);
  }

  live(id) {
    const entry = this.store.get(id);
    if (!entry) return undefined;
    if (entry.expiresAt !== undefined && entry.expiresAt <= Date.now()) {
      this.store.delete(id);
      return undefined;
    }
    return entry;
  }

  async upsert(id, payload, expiresIn) {
    const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : undefined;
    this.store.set(id, { payload: structuredClone(payload), expiresAt });
  }

  async find(id) {
    const entry = this.live(id);
    return entry ? structuredClone(entry.payload) : undefined;
  }

  async findByUid(uid) {
    for (const id of this.store.keys()) {
      const entry = this.live(id);
      if (entry?.payload.uid === uid) return structuredClone(entry.payload);
    }
    return undefined;
  }

  async findByUserCode(userCode) {
    for (const id of this.store.keys()) {
      const entry = this.live(id);
      if (entry?.payload.userCode === userCode) return structuredClone(entry.payload);
    }
    return undefined;
  }

  async consume(id) {
    const entry = this.live(id);
    if (entry) entry.payload.consumed = nowSec();
  }

  async destroy(id) {
    this.store.delete(id);
  }

  async revokeByGrantId(grantId) {
    for (const [id, entry] of this.store) {
      if (entry.payload.grantId === grantId) this.store.delete(id);
    }
  }
}
