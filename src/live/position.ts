/**
 * Positions in the change feed, and the opaque strings that name them (todo.onChange's event ids and todo.sync's
 * cursors are the same strings). A position is (tx, seq): the writing transaction's id and the row's change
 * sequence number (migration *_todo_change_log). `(xmin, 0)` is a frontier: every position before it is final.
 * The string also says when it was handed out, so one older than CHANGE_RETENTION_MS is known to be expired.
 */
export interface Position {
  tx: number;
  seq: number;
}

export const compare = (a: Position, b: Position): number => a.tx - b.tx || a.seq - b.seq;
export const later = (a: Position, b: Position): Position => (compare(a, b) >= 0 ? a : b);

/** `<tx>.<seq>.<minted ms>`, base 36: at most 35 characters. */
export function encodePosition({ tx, seq }: Position, mintedAt = Date.now()): string {
  return `${tx.toString(36)}.${seq.toString(36)}.${mintedAt.toString(36)}`;
}

const FORMAT = /^([0-9a-z]{1,11})\.([0-9a-z]{1,11})\.([0-9a-z]{1,11})$/;

/** undefined for anything this API did not hand out (a wrong shape, numbers past 2^53). */
export function decodePosition(raw: string): (Position & { mintedAt: number }) | undefined {
  const match = FORMAT.exec(raw);
  if (!match) return undefined;
  const [tx, seq, mintedAt] = [match[1]!, match[2]!, match[3]!].map((part) => parseInt(part, 36)) as [
    number,
    number,
    number,
  ];
  if (![tx, seq, mintedAt].every(Number.isSafeInteger)) return undefined;
  return { tx, seq, mintedAt };
}
