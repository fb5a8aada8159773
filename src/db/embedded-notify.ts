/**
 * LISTEN/NOTIFY on the embedded database as PostgreSQL does it. pglite-socket serves every connection from
 * PGlite's one session, so a NOTIFY's NotificationResponse comes out in the answer of whoever committed it.
 * This takes those messages out of that answer and writes them to the connections that LISTEN on the channel
 * (the live updates' listener of each server process, src/live/listener.ts).
 *
 * LISTEN/UNLISTEN are seen in simple Query messages holding that one statement (what node-postgres sends).
 * An UNLISTEN is only passed to the shared session when no other connection still listens on the channel.
 */
import { socketServerInternals, type OnData } from "../internals/pglite-socket.ts";
import { concatFrames as concat } from "./pg-frames.ts";

const QUERY = 0x51; // 'Q'
const NOTIFICATION = 0x41; // 'A'
const STATEMENT = /^\s*(LISTEN|UNLISTEN)\s+(\*|"((?:[^"]|"")+)"|([A-Za-z_][\w$]*))\s*;?\s*$/i;
// An UNLISTEN that changes nothing, for a connection whose channel others still need: same answer, same tag.
const HARMLESS_UNLISTEN = 'UNLISTEN "todo_api_nobody"';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function deliverNotifications(server: unknown): void {
  const { handlers, wrapEnqueue } = socketServerInternals(server);
  const channelsOf = new Map<number, Set<string>>();
  // Once the session listens, answers are scanned (a connection that closed may leave its LISTEN behind).
  let scanning = false;

  const listenersOf = (channel: string) => {
    const ids: number[] = [];
    for (const [id, channels] of channelsOf) if (channels.has(channel)) ids.push(id);
    return ids;
  };
  const socketOf = (id: number) => {
    for (const handler of handlers) if (handler.handlerId === id) return handler.socket;
    channelsOf.delete(id); // closed
    return null;
  };

  /** The message to run instead (or the same), after noting what a LISTEN/UNLISTEN does to `id`. */
  const track = (id: number, message: Uint8Array): Uint8Array => {
    const text = decoder.decode(message.subarray(5, message.length - 1));
    const match = STATEMENT.exec(text);
    if (!match) return message;
    const unlisten = match[1]!.toUpperCase() === "UNLISTEN";
    const channel = match[3]?.replaceAll('""', '"') ?? match[4]?.toLowerCase() ?? "*";
    const mine = channelsOf.get(id) ?? new Set<string>();
    if (!unlisten) {
      mine.add(channel);
      channelsOf.set(id, mine);
      scanning = true;
      return message;
    }
    const dropped = channel === "*" ? [...mine] : [channel];
    for (const c of dropped) mine.delete(c);
    if (mine.size === 0) channelsOf.delete(id);
    const stillWanted = dropped.some((c) => listenersOf(c).some((other) => other !== id && socketOf(other)));
    return stillWanted ? queryMessage(HARMLESS_UNLISTEN) : message;
  };

  /** Passes the sender its answer without notifications, and each notification to the connections listening. */
  const router = (id: number, onData: OnData): OnData => {
    let carry: Uint8Array | undefined;
    return (chunk) => {
      const data = carry ? concat(carry, chunk) : chunk;
      carry = undefined;
      const kept: Uint8Array[] = [];
      let start = 0;
      let at = 0;
      while (at + 5 <= data.length) {
        const length = 1 + readInt32(data, at + 1);
        if (at + length > data.length) break;
        if (data[at] === NOTIFICATION) {
          if (at > start) kept.push(data.subarray(start, at));
          const message = data.slice(at, at + length);
          const channelEnd = message.indexOf(0, 9);
          const channel = decoder.decode(message.subarray(9, channelEnd));
          for (const listener of listenersOf(channel)) {
            if (listener === id) kept.push(message);
            else {
              const socket = socketOf(listener);
              if (socket?.writable) socket.write(message);
            }
          }
          start = at + length;
        }
        at += length;
      }
      if (at < data.length) carry = data.slice(at);
      if (start === 0 && at === data.length) return onData(data);
      if (at > start) kept.push(data.subarray(start, at));
      if (kept.length) onData(kept.length === 1 ? kept[0]! : concat(...kept));
    };
  };

  wrapEnqueue((enqueue) => (id, message, onData) => {
    const run = message[0] === QUERY ? track(id, message) : message;
    return enqueue(id, run, scanning ? router(id, onData) : onData);
  });
}

function queryMessage(sql: string): Uint8Array {
  const text = encoder.encode(sql);
  const message = new Uint8Array(text.length + 6);
  message[0] = QUERY;
  new DataView(message.buffer).setInt32(1, text.length + 5);
  message.set(text, 5);
  return message;
}

function readInt32(data: Uint8Array, at: number): number {
  return ((data[at]! << 24) | (data[at + 1]! << 16) | (data[at + 2]! << 8) | data[at + 3]!) >>> 0;
}
