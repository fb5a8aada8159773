import superjson from "superjson";
import { serialize } from "./serialize.ts";

/**
 * The one transformer shared by server and clients: superjson (Dates travel as Dates). Results are written by a
 * faster serializer that produces superjson's exact bytes (src/trpc/serialize.ts); everything else is superjson's.
 */
export const transformer = {
  input: superjson,
  output: { serialize, deserialize: superjson.deserialize.bind(superjson) },
};
