// The summary and the per-user verification table, as text.
import { formatChecksum } from "./checksum.ts";
import type { ImportResult } from "./run.ts";

/** A plain-text table: header, a rule, rows; columns padded to their widest cell. */
export function table(header: string[], rows: string[][], rightAligned: boolean[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const cell = (value: string, i: number) => (rightAligned[i] ? value.padStart(widths[i]!) : value.padEnd(widths[i]!));
  const format = (row: string[]) => row.map(cell).join("  ").trimEnd();
  return [format(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(format)].join("\n");
}

export function formatReport(result: ImportResult): string {
  const out: string[] = [];
  const { users, tasks } = result;
  out.push(
    result.dryRun ? `Dry run of ${result.file}: nothing was written to the database.` : `Imported ${result.file}.`,
  );
  if (result.unknownTables.length) out.push(`Unknown tables (not imported): ${result.unknownTables.join(", ")}`);
  if (result.unknownColumns.length) out.push(`Unknown columns (not imported): ${result.unknownColumns.join(", ")}`);
  for (const note of result.notes) out.push(`Note: ${note}`);
  const verb = result.dryRun ? "would import" : "written now";
  out.push(
    `Users: ${users.source} in source, ${users.rejected} rejected, ${users.createdFromTasks} created from task rows, ` +
      `${users.inserted} ${verb}` +
      (users.present === undefined ? "" : `, ${users.present} present`),
  );
  out.push(
    `Tasks: ${tasks.source} in source, ${tasks.rejected} rejected, ${tasks.source - tasks.rejected} valid, ${tasks.inserted} ${verb}`,
  );
  const rejected = users.rejected + tasks.rejected;
  out.push(rejected ? `Rejected rows: ${rejected}, with reasons in ${result.rejectsPath}` : "Rejected rows: none");
  const rate = (seconds: number) =>
    Math.round((users.source + tasks.source) / Math.max(seconds, 0.001)).toLocaleString("en");
  out.push(
    `Time: ${result.seconds.import.toFixed(2)} s to read, validate${result.dryRun ? "" : " and write"} (${rate(result.seconds.import)} rows/s)` +
      (result.dryRun ? "" : `, ${result.seconds.verify.toFixed(2)} s to verify`),
  );
  out.push("");

  const sum = (pick: (l: ImportResult["perUser"][number]) => number | undefined) =>
    result.perUser.reduce((n, l) => n + (pick(l) ?? 0), 0);
  if (result.dryRun) {
    const rows = result.perUser.map((l) => [
      l.userId,
      String(l.source),
      String(l.source - l.rejected),
      String(l.rejected),
      formatChecksum(l.sourceChecksum),
    ]);
    rows.push([
      "total",
      String(sum((l) => l.source)),
      String(sum((l) => l.source - l.rejected)),
      String(sum((l) => l.rejected)),
      "",
    ]);
    out.push(table(["user", "source", "valid", "rejected", "checksum"], rows, [false, true, true, true, false]));
  } else {
    const rows = result.perUser.map((l) => [
      l.userId,
      String(l.source),
      String(l.imported),
      String(l.rejected),
      formatChecksum(l.sourceChecksum),
      formatChecksum(l.targetChecksum ?? 0n),
      l.ok ? "ok" : "MISMATCH",
    ]);
    rows.push([
      "total",
      String(sum((l) => l.source)),
      String(sum((l) => l.imported)),
      String(sum((l) => l.rejected)),
      "",
      "",
      "",
    ]);
    out.push(
      table(["user", "source", "imported", "rejected", "source checksum", "stored checksum", ""], rows, [
        false,
        true,
        true,
        true,
        false,
        false,
        false,
      ]),
    );
    out.push("");
    out.push(
      result.verified
        ? "Verified: every user's imported rows and checksums match the source."
        : "VERIFICATION FAILED: the rows marked MISMATCH differ between the source and the database.",
    );
  }
  return out.join("\n");
}
