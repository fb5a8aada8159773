/** Development sign-in for the TodoMVC page: POST /dev/token {"name"} answers a token whose `sub` is that name. */
import express, { Router } from "express";
import { z } from "zod";
import { signToken, userIdSchema } from "../auth/tokens.ts";
import type { Config } from "../config.ts";
import { AppError } from "../errors.ts";
import { sendAppError } from "./errors.ts";

const bodySchema = z.object(
  { name: z.string({ error: "must be a string" }).trim().pipe(userIdSchema) },
  { error: "expected a JSON object" },
);

// Long enough for a working day at the page; the API refuses the token after it (UNAUTHORIZED).
const EXPIRES_IN = "12h";

/**
 * Mounted by createApp only outside production and only with the development secret the API generated itself
 * (config.auth.devSecret): anyone who can reach it can act as any user, so never with AUTH_SECRET or AUTH_JWKS_URL.
 */
export function devTokenRouter(auth: Config["auth"] & { secret: string }) {
  const router = Router();
  router.post("/token", express.json({ limit: "4kb" }), async (req, res) => {
    const parsed = bodySchema.safeParse(req.body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      return sendAppError(req, res, new AppError("badRequest", `${issue.path.join(".") || "body"}: ${issue.message}`));
    }
    const { name } = parsed.data;
    const token = await signToken(
      auth.secret,
      { sub: name, name },
      { expiresIn: EXPIRES_IN, issuer: auth.issuer, audience: auth.audience },
    );
    res.json({ userId: name, token });
  });
  return router;
}
