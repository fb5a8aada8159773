/** A `--name` option that must be a positive integer; a wrong one ends the command with exit code 2 (usage). */
export function positiveInteger(name: string, given: string | undefined, fallback: number): number {
  const n = given === undefined ? fallback : Number(given);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`--${name} must be a positive integer, not ${JSON.stringify(given)}`);
    process.exit(2);
  }
  return n;
}
