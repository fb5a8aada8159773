/**
 * One extended-protocol exchange at a time on the embedded database. pglite-socket serves every connection from
 * PGlite's one session and queues each message on its own, so one connection's Parse/Bind/Execute could run
 * between another's Parse and Sync: the unnamed statement or portal is replaced under it ("portal does not
 * exist"), and after an error the session skips every message up to the next Sync, whoever sent it, leaving
 * those connections unanswered. Here a connection's messages are held until its Sync (or Flush) and run as one.
 */
import { socketServerInternals } from "../internals/pglite-socket.ts";
import { concatFrames, PARSE } from "./pg-frames.ts";

// Parse, Bind, Describe, Execute, Close: answered only once the client sends Sync or Flush.
const HELD = new Set([PARSE, 0x42, 0x44, 0x45, 0x43]);
const TERMINATE = 0x58;
/** Exchanges held at once before those of closed connections are dropped. */
const SWEEP_AT = 64;

export function runExchangesWhole(server: unknown): void {
  const { handlers, wrapEnqueue } = socketServerInternals(server);
  const held = new Map<number, Uint8Array[]>();

  const sweep = () => {
    const open = new Set([...handlers].map((h) => h.handlerId));
    for (const id of held.keys()) if (!open.has(id)) held.delete(id);
  };

  wrapEnqueue((enqueue) => (id, message, onData) => {
    const type = message[0]!;
    const pending = held.get(id);
    if (HELD.has(type)) {
      if (pending) pending.push(message);
      else {
        if (held.size >= SWEEP_AT) sweep();
        held.set(id, [message]);
      }
      return Promise.resolve(0);
    }
    if (!pending) return enqueue(id, message, onData);
    held.delete(id);
    // A Terminate ends the connection: what it left unsynced never runs (as on PostgreSQL).
    if (type === TERMINATE) return enqueue(id, message, onData);
    return enqueue(id, concatFrames(...pending, message), onData);
  });
}
