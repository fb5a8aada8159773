import type { Identity } from "../auth/tokens.ts";
import type { PrismaClient } from "../db/client.ts";
import { insertUserIfMissing } from "./repository.ts";

/** Creates each caller's User row on first sight, then remembers it so later requests cost nothing. */
export interface UserRegistry {
  ensure(identity: Identity): Promise<void>;
  /** Forget a user (e.g. the row was deleted behind our back), so the next request recreates it. */
  forget(id: string): void;
}

export function createUserRegistry(db: PrismaClient, capacity = 100_000): UserRegistry {
  const seen = new Set<string>();
  return {
    async ensure(identity) {
      const { id } = identity;
      if (seen.has(id)) return;
      await insertUserIfMissing(db, identity);
      if (seen.size >= capacity) seen.delete(seen.values().next().value!);
      seen.add(id);
    },
    forget(id) {
      seen.delete(id);
    },
  };
}
