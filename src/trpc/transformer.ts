/**
 * The one transformer shared by server and clients: superjson (Dates travel as Dates). Results are written by
 * `serialize` below, which produces superjson's exact bytes; everything else is superjson's.
 */
import superjson from "superjson";

export const transformer = {
  input: superjson,
  output: { serialize, deserialize: superjson.deserialize.bind(superjson) },
};

/**
 * superjson's `serialize`, byte for byte, for the values procedures return: plain objects and arrays of strings,
 * finite numbers, booleans, nulls and valid Dates. One walk, no tree of annotations. Anything else — undefined,
 * -0, NaN, BigInt, Map, Set, class instances, a key superjson would escape, an object met twice — goes to
 * superjson itself. test/unit/trpc/transformer.test.ts compares the two on generated values.
 */
type Json = null | string | number | boolean | Json[] | { [key: string]: Json };
type Serialized = { json: Json; meta?: { values: Record<string, ["Date"]>; v: 1 } };

class NotPlain extends Error {}
const NOT_PLAIN = new NotPlain();
// superjson escapes "." and "\" in paths; these keys have their own handling there.
const SPECIAL_KEY = /[.\\]|^(__proto__|constructor|prototype)$/;

type Annotations = ["Date"] | Record<string, unknown> | undefined;

export function serialize(value: unknown): Serialized {
  const root = value !== null && typeof value === "object" ? (Object.getPrototypeOf(value) as unknown) : undefined;
  if (root !== Object.prototype && root !== Array.prototype) return superjson.serialize(value) as Serialized;
  const seen = new Set<object>();
  let annotations: Annotations;

  // Returns the JSON value and sets `annotations` as superjson's walker builds them: a child's own annotation
  // under its key, a child's inner ones under "key.path" — in a plain object, so JavaScript's key order (integer
  // keys first) is the same as superjson's.
  const walk = (v: unknown): Json => {
    annotations = undefined;
    if (v === null || typeof v === "string" || typeof v === "boolean") return v;
    if (typeof v === "number") {
      if (!Number.isFinite(v) || Object.is(v, -0)) throw NOT_PLAIN;
      return v;
    }
    if (typeof v !== "object" || seen.has(v)) throw NOT_PLAIN;
    seen.add(v);
    if (v instanceof Date) {
      if (Object.getPrototypeOf(v) !== Date.prototype || Number.isNaN(v.getTime())) throw NOT_PLAIN;
      annotations = ["Date"];
      return v.toISOString();
    }
    let inner: Record<string, unknown> | undefined;
    const note = (key: string) => {
      if (annotations === undefined) return;
      inner ??= {};
      if (Array.isArray(annotations)) inner[key] = annotations;
      else for (const [path, tree] of Object.entries(annotations)) inner[`${key}.${path}`] = tree;
    };
    let out: Json;
    if (Array.isArray(v)) {
      if (Object.getPrototypeOf(v) !== Array.prototype) throw NOT_PLAIN;
      const list = new Array<Json>(v.length);
      for (let i = 0; i < v.length; i++) {
        if (!(i in v)) throw NOT_PLAIN;
        list[i] = walk(v[i]);
        note(String(i));
      }
      out = list;
    } else {
      if (Object.getPrototypeOf(v) !== Object.prototype) throw NOT_PLAIN;
      const object: { [key: string]: Json } = {};
      for (const key of Object.keys(v)) {
        if (SPECIAL_KEY.test(key)) throw NOT_PLAIN;
        object[key] = walk((v as Record<string, unknown>)[key]);
        note(key);
      }
      out = object;
    }
    annotations = inner;
    return out;
  };

  try {
    const json = walk(value);
    return annotations ? { json, meta: { values: annotations as Record<string, ["Date"]>, v: 1 } } : { json };
  } catch (error) {
    if (error !== NOT_PLAIN) throw error;
    return superjson.serialize(value) as Serialized;
  }
}
