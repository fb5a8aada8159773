/**
 * Who the page acts for. In production the host application supplies the token as `todoApiToken` on this
 * window or, when the page runs in a same-origin iframe, on the parent window: a string, or a function
 * returning a fresh one, read before every request. Elsewhere a typed user name is exchanged for a token
 * at POST dev/token, which the server offers only outside NODE_ENV=production with its own development secret.
 */
type TokenSource = string | (() => string | Promise<string>);

declare global {
  interface Window {
    todoApiToken?: TokenSource;
  }
}

function hostTokenSource(): TokenSource | undefined {
  if (window.todoApiToken !== undefined) return window.todoApiToken;
  try {
    return window.parent !== window ? window.parent.todoApiToken : undefined;
  } catch {
    return undefined; // a cross-origin parent cannot be read
  }
}

export interface Session {
  /** The host's session cannot be ended from here; a development one can. */
  kind: "host" | "development";
  /** The token for the next request (a development one past its expiry is renewed first). */
  token(): Promise<string>;
  /** A new token, after the server refused the current one as expired (a live stream's reconnect). */
  renew(): Promise<string>;
}

const STORAGE_KEY = "todo-dev-session";

export function hostSession(): Session | null {
  if (hostTokenSource() === undefined) return null;
  const token = async () => {
    const source = hostTokenSource();
    return (typeof source === "function" ? await source() : source) ?? "";
  };
  // The host's function is asked again; a plain string is what it is.
  return { kind: "host", token, renew: token };
}

/** A development session kept in localStorage, so every tab of this origin shares it. */
export function storedDevSession(): Session | null {
  const token = localStorage.getItem(STORAGE_KEY);
  return token ? devSession(token) : null;
}

export async function devSignIn(name: string): Promise<Session> {
  return devSession(await devToken(name));
}

async function devToken(name: string): Promise<string> {
  // Relative, like the API's URL: the page works wherever a proxy mounts the app (/, /todo/, …).
  const res = await fetch("dev/token", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name }),
  });
  if (res.status === 404) {
    // Absent in production, and in development whenever AUTH_SECRET or AUTH_JWKS_URL is set.
    throw new Error(
      "Sign-in by name exists only in development without AUTH_SECRET or AUTH_JWKS_URL: otherwise the host application supplies the token (todoApiToken)",
    );
  }
  const body = (await res.json().catch(() => ({}))) as { token?: string; error?: string };
  if (!res.ok || !body.token) throw new Error(`Sign-in failed: ${body.error ?? `HTTP ${res.status}`}`);
  localStorage.setItem(STORAGE_KEY, body.token);
  return body.token;
}

export function forgetDevSession(): void {
  localStorage.removeItem(STORAGE_KEY);
}

/** The claims the page needs of its own token (no check: the server verifies it). */
function claimsOf(token: string): { sub?: string; exp?: number } {
  try {
    const part = token.split(".")[1]!.replaceAll("-", "+").replaceAll("_", "/");
    return JSON.parse(atob(part)) as { sub?: string; exp?: number };
  } catch {
    return {};
  }
}

/** Renewed by signing in again under the same name when it expires, so a long-open page stays signed in. */
function devSession(first: string): Session {
  let token = first;
  let renewing: Promise<string> | undefined;
  const renew = () => {
    const name = claimsOf(token).sub;
    if (!name) return Promise.reject(new Error("The development token names no user: sign in again"));
    // Calls and the stream that find it expired at once share one sign-in.
    renewing ??= devToken(name)
      .then((fresh) => (token = fresh))
      .finally(() => (renewing = undefined));
    return renewing;
  };
  return {
    kind: "development",
    async token() {
      const { exp } = claimsOf(token);
      return exp !== undefined && exp * 1000 <= Date.now() ? renew() : token;
    },
    renew,
  };
}
