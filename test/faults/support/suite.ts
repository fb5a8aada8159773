/** Whether the fault suite can run here: it needs PostgreSQL's server binaries to own an instance. */
import { unavailableReason } from "./postgres.ts";

const reason = unavailableReason();
if (reason) {
  // CI sets FAULTS_REQUIRED=1: there a missing PostgreSQL is a failure, not a skip.
  if (process.env.FAULTS_REQUIRED === "1") throw new Error(`fault tests cannot run: ${reason}`);
  console.warn(`Skipping fault tests: ${reason}`);
}

/** True when the fault tests must be skipped (the reason was printed). */
export const skipFaults = reason !== undefined;
