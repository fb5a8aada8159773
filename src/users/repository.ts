/** Every statement on users. */
import type { Identity } from "../auth/tokens.ts";
import type { PrismaClient } from "../db/client.ts";

export type UserDTO = Identity;

/** INSERT … ON CONFLICT DO NOTHING: one statement, safe under concurrent first requests. */
export async function insertUserIfMissing(db: PrismaClient, { id, email, name }: Identity): Promise<void> {
  await db.user.createMany({ data: [{ id, email, name }], skipDuplicates: true });
}

export function findUser(db: PrismaClient, id: string): Promise<UserDTO | null> {
  return db.user.findUnique({ where: { id }, select: { id: true, email: true, name: true } });
}
