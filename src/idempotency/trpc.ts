/**
 * Idempotency-Key for mutations (docs/idempotency.md), the one mechanism every mutation uses: a resolver wrapped in
 * `idempotent` runs, when the request carries a key, in one transaction with the key's claim and the row holding
 * its result; a repeat gets that result without running again. Without a key the resolver runs as it is.
 */
import type { Identity } from "../auth/tokens.ts";
import { AppError } from "../errors.ts";
import { isValidKey, requestHash } from "./key.ts";
import {
  claimKey,
  deleteExpiredKey,
  isUniqueViolation,
  saveKey,
  type Claim,
  type KeyedRequest,
} from "./store.ts";
import type { Db } from "../todos/repository.ts";
import type { Context } from "../trpc/context.ts";
import { transformer } from "../trpc/transformer.ts";

export type KeyedContext = Context & { user: Identity };

// Transactions may run as long as a call may.
const DEFAULT_TRANSACTION_MS = 30_000;

/** The request's key for this call; undefined without one. Refused before anything runs, so the key stays free. */
function keyedRequest(ctx: KeyedContext, procedure: string, input: unknown): KeyedRequest | undefined {
  const { key, mutations } = ctx.idempotency;
  if (key === undefined) return undefined;
  if (!isValidKey(key)) throw new AppError("badRequest", "Idempotency-Key must be 1–255 visible ASCII characters");
  if (mutations > 1) throw new AppError("badRequest", "An Idempotency-Key covers one mutation: send the batch's mutations one per request");
  return { userId: ctx.user.id, key, procedure, requestHash: requestHash(input), ttlMs: ctx.idempotencyTtlMs };
}

/** A claim that does not let the call run: the stored result, or the error that says why. */
function settled(ctx: KeyedContext, claim: Exclude<Claim, { status: "free" }>): unknown {
  // Retry-After: how long a repeat should wait for the first request to finish.
  if (claim.status === "busy") throw new AppError("keyBusy", undefined, { retryAfterSeconds: 1 });
  if (claim.status === "mismatch") throw new AppError("keyMismatched");
  ctx.idempotency.replayed = true;
  return transformer.output.deserialize(JSON.parse(claim.response));
}

/** The result as stored: superjson's serialisation, the form the answer is built from. */
const storedResponse = (data: unknown): string => JSON.stringify(transformer.output.serialize(data));

type Resolver<C, I, O> = (opts: { ctx: C; input: I; path: string }) => Promise<O>;
/** The context inside the transaction: `db` is the transaction's client. */
type InTransaction<C> = Omit<C, "db"> & { db: Db };

/** Resolvers that honour Idempotency-Key; the router test checks that every mutation has one. */
export const KEYED = Symbol("idempotent");

/**
 * The resolver in a transaction that claims the key first and stores the result with the change. `retryAfter`: an
 * error that rolled the transaction back and after which the resolver may run once more (true once it is mended).
 */
export function idempotent<C extends KeyedContext, I, O>(
  resolve: Resolver<InTransaction<C>, I, O>,
  { retryAfter }: { retryAfter?: (error: unknown, ctx: C) => Promise<boolean> } = {},
): Resolver<C, I, O> {
  const keyed: Resolver<C, I, O> = async (opts) => {
    const request = keyedRequest(opts.ctx, opts.path, opts.input);
    if (!request) {
      try {
        return await resolve(opts as never);
      } catch (error) {
        if (await retryAfter?.(error, opts.ctx)) return resolve(opts as never);
        throw error;
      }
    }
    const run = () =>
      opts.ctx.db.$transaction(
        async (tx) => {
          const claim = await claimKey(tx, request);
          if (claim.status !== "free") return settled(opts.ctx, claim) as O;
          if (claim.expired) await deleteExpiredKey(tx, request.userId, request.key);
          const result = await resolve({ ...opts, ctx: { ...opts.ctx, db: tx } } as never);
          await saveKey(tx, request, storedResponse(result));
          return result;
        },
        { maxWait: opts.ctx.callTimeoutMs ?? DEFAULT_TRANSACTION_MS, timeout: opts.ctx.callTimeoutMs ?? DEFAULT_TRANSACTION_MS },
      );
    try {
      return await run();
    } catch (error) {
      // Another instance committed the key after this claim read it: this change rolled back; replay theirs.
      if (isUniqueViolation(error) || (await retryAfter?.(error, opts.ctx))) return run();
      throw error;
    }
  };
  return Object.assign(keyed, { [KEYED]: true });
}
