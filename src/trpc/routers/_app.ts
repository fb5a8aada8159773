import { findUser } from "../../users/registry.ts";
import { errorResponses, userJson } from "../openapi.ts";
import { router } from "../init.ts";
import { protectedProcedure } from "../procedures.ts";
import { todoRouter } from "./todo.ts";

export const appRouter = router({
  me: protectedProcedure
    .meta({
      openapi: { method: "GET", path: "/me", tags: ["me"], summary: "The caller", errorResponses: errorResponses() },
      response: userJson,
    })
    .query(async ({ ctx }) => {
      const user = await findUser(ctx.db, ctx.user.id);
      // The row exists (protectedProcedure ensured it); fall back to the token's claims if it vanished since.
      return user ?? ctx.user;
    }),
  todo: todoRouter,
});

export type AppRouter = typeof appRouter;
