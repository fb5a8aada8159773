/** What PostgreSQL text can store exactly: refused at the edge, so bad text is a BAD_REQUEST, never a database error. */

/** PostgreSQL text cannot hold U+0000. */
export const hasNul = (s: string) => s.includes("\u0000");

// A lone UTF-16 surrogate has no UTF-8 form: the drivers would silently store U+FFFD instead.
// (With the u flag a valid surrogate pair is one code point, so only lone halves match.)
const LONE_SURROGATE = /\p{Cs}/u;
export const isWellFormed = (s: string) => !LONE_SURROGATE.test(s);

/** Neither NUL nor a lone surrogate. */
export const isStorableString = (s: string) => !hasNul(s) && isWellFormed(s);

/** Length as PostgreSQL counts it (code points), not UTF-16 units. */
export const codePoints = (s: string) => [...s].length;
