/** Users: each caller's User row, created on first sight, and the statements on users. */
import type { Identity } from "../auth/tokens.ts";
import type { PrismaClient } from "../db/client.ts";

export type UserDTO = Identity;

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

/** INSERT … ON CONFLICT DO NOTHING: one statement, safe under concurrent first requests. */
export async function insertUserIfMissing(db: PrismaClient, { id, email, name }: Identity): Promise<void> {
  await db.user.createMany({ data: [{ id, email, name }], skipDuplicates: true });
}

export function findUser(db: PrismaClient, id: string): Promise<UserDTO | null> {
  return db.user.findUnique({ where: { id }, select: { id: true, email: true, name: true } });
}
