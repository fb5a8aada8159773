import superjson from "superjson";

/** The one transformer shared by server and clients: Dates travel as Dates. */
export const transformer = superjson;
