import { protectedProcedure, router } from "../trpc.ts";
import { todoRouter } from "./todo.ts";

export const appRouter = router({
  me: protectedProcedure.query(async ({ ctx }) => {
    const user = await ctx.db.user.findUnique({ where: { id: ctx.user.id }, select: { id: true, email: true, name: true } });
    // The row exists (protectedProcedure ensured it); fall back to the token's claims if it vanished since.
    return user ?? ctx.user;
  }),
  todo: todoRouter,
});

export type AppRouter = typeof appRouter;
