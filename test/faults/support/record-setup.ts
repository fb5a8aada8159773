/** Global setup of the faults project: a folder for the record rows, printed as one table at the end. */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";
import { formatRecord, type FaultRecord } from "./record.ts";

export default function setup(project: TestProject) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "todo-fault-record-"));
  project.provide("faultRecordDir", dir);
  return () => {
    const rows = readdirSync(dir)
      .sort()
      .map((file) => JSON.parse(readFileSync(path.join(dir, file), "utf8")) as FaultRecord);
    rmSync(dir, { recursive: true, force: true });
    if (!rows.length) return;
    const table = formatRecord(rows);
    console.log(`\nFaults injected and survived:\n\n${table}\n`);
    // FAULT_RECORD_FILE=path keeps the table (docs/RELIABILITY.md is updated from it).
    if (process.env.FAULT_RECORD_FILE) writeFileSync(process.env.FAULT_RECORD_FILE, table + "\n");
  };
}
