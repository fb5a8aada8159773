/** The record of faults survived: each test adds a row; the faults project prints the table at the end. */
import { writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { inject } from "vitest";

export interface FaultRecord {
  fault: string;
  driver: "neon" | "pg" | "—";
  /** Requests answered successfully while the fault was being injected and recovered from. */
  served: number;
  /** Requests refused with a clean, retryable error (503 SERVICE_UNAVAILABLE) during the fault. */
  refused: number;
  /** Acknowledged writes looked up in the database afterwards. */
  checked: number;
  /** Acknowledged writes missing or duplicated (must be 0). */
  lost: number;
}

declare module "vitest" {
  export interface ProvidedContext {
    faultRecordDir: string;
  }
}

export function record(row: FaultRecord): void {
  const dir = inject("faultRecordDir");
  writeFileSync(path.join(dir, `${Date.now()}-${randomBytes(4).toString("hex")}.json`), JSON.stringify(row));
}

export function formatRecord(rows: FaultRecord[]): string {
  const header = "| Fault | Driver | Requests served | Clean 503s | Acknowledged writes checked | Lost |";
  const lines = rows.map((r) => `| ${r.fault} | ${r.driver} | ${r.served} | ${r.refused} | ${r.checked} | ${r.lost} |`);
  return [header, "|---|---|---:|---:|---:|---:|", ...lines].join("\n");
}
