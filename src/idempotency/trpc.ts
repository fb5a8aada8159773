/**
 * Idempotency-Key for mutations (docs/idempotency.md). A resolver wrapped in `idempotent` runs, when the
 * request carries a key, in one transaction with the key's claim and the row holding its result; a repeat gets
 * that result without running again. `idempotentStatement` hands the request to a resolver that does the same
 * in one statement (todo.create, the page's every create: 1.7× the keyed transaction's throughput in the bench's
 * createKeyed cell). Without a key both leave the resolver as it is. Either way the stored result is
 * `storedResponse`: the transformer's serialisation, the bytes a replay answers with.
 */
import type { Identity } from "../auth/tokens.ts";
import { AppError } from "../errors.ts";
import { isValidKey, requestHash } from "./key.ts";
import { claimKey, deleteExpiredKey, isUniqueViolation, saveKey, type Claim, type KeyedRequest } from "./store.ts";
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
  if (mutations > 1)
    throw new AppError(
      "badRequest",
      "An Idempotency-Key covers one mutation: send the batch's mutations one per request",
    );
  return { userId: ctx.user.id, key, procedure, requestHash: requestHash(input), ttlMs: ctx.idempotencyTtlMs };
}

/** A claim that does not let the call run: the stored result, or the error that says why. */
export function settled(ctx: KeyedContext, claim: Exclude<Claim, { status: "free" }>): unknown {
  // Retry-After: how long a repeat should wait for the first request to finish.
  if (claim.status === "busy") throw new AppError("keyBusy", undefined, { retryAfterSeconds: 1 });
  if (claim.status === "mismatch") throw new AppError("keyMismatched");
  ctx.idempotency.replayed = true;
  return transformer.output.deserialize(
    JSON.parse(claim.response) as Parameters<typeof transformer.output.deserialize>[0],
  );
}

/** The result as stored: superjson's serialisation, the form the answer is built from. */
export const storedResponse = (data: unknown): string => JSON.stringify(transformer.output.serialize(data));

type Resolver<C, I, O> = (opts: { ctx: C; input: I; path: string }) => Promise<O>;
/** The context inside the transaction: `db` is the transaction's client. */
type InTransaction<C> = Omit<C, "db"> & { db: Db };

/** Resolvers that honour Idempotency-Key; the router test checks that every mutation has one. */
export const KEYED = Symbol("idempotent");

/** The resolver in a transaction that claims the key first and stores the result with the change. */
export function idempotent<C extends KeyedContext, I, O>(resolve: Resolver<InTransaction<C>, I, O>): Resolver<C, I, O> {
  const keyed: Resolver<C, I, O> = async (opts) => {
    const request = keyedRequest(opts.ctx, opts.path, opts.input);
    if (!request) return resolve(opts);
    const run = () =>
      opts.ctx.db.$transaction(
        async (tx) => {
          const claim = await claimKey(tx, request);
          if (claim.status !== "free") return settled(opts.ctx, claim) as O;
          if (claim.expired) await deleteExpiredKey(tx, request.userId, request.key);
          const result = await resolve({ ...opts, ctx: { ...opts.ctx, db: tx } });
          await saveKey(tx, request, storedResponse(result));
          return result;
        },
        {
          maxWait: opts.ctx.callTimeoutMs ?? DEFAULT_TRANSACTION_MS,
          timeout: opts.ctx.callTimeoutMs ?? DEFAULT_TRANSACTION_MS,
        },
      );
    try {
      return await run();
    } catch (error) {
      // Another instance committed the key after this claim read it: this change rolled back; replay theirs.
      if (isUniqueViolation(error)) return run();
      throw error;
    }
  };
  return Object.assign(keyed, { [KEYED]: true });
}

/** The resolver gets the keyed request (or undefined) and must claim and store it in its own statement. */
export function idempotentStatement<C extends KeyedContext, I, O>(
  resolve: (opts: { ctx: C; input: I; path: string }, request: KeyedRequest | undefined) => Promise<O>,
): Resolver<C, I, O> {
  const keyed: Resolver<C, I, O> = (opts) => resolve(opts, keyedRequest(opts.ctx, opts.path, opts.input));
  return Object.assign(keyed, { [KEYED]: true });
}
