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
  token(): Promise<string>;
}

const STORAGE_KEY = "todo-dev-session";

export function hostSession(): Session | null {
  if (hostTokenSource() === undefined) return null;
  return {
    kind: "host",
    async token() {
      const source = hostTokenSource();
      return (typeof source === "function" ? await source() : source) ?? "";
    },
  };
}

/** A development session kept in localStorage, so every tab of this origin shares it. */
export function storedDevSession(): Session | null {
  const token = localStorage.getItem(STORAGE_KEY);
  return token ? devSession(token) : null;
}

export async function devSignIn(name: string): Promise<Session> {
  // Relative, like the API's URL: the page works wherever a proxy mounts the app (/, /todo/, …).
  const res = await fetch("dev/token", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name }),
  });
  if (res.status === 404) {
    // Absent in production, and in development whenever AUTH_SECRET or AUTH_JWKS_URL is set.
    throw new Error("Sign-in by name exists only in development without AUTH_SECRET or AUTH_JWKS_URL: otherwise the host application supplies the token (todoApiToken)");
  }
  const body = (await res.json().catch(() => ({}))) as { token?: string; error?: string };
  if (!res.ok || !body.token) throw new Error(`Sign-in failed: ${body.error ?? `HTTP ${res.status}`}`);
  localStorage.setItem(STORAGE_KEY, body.token);
  return devSession(body.token);
}

export function forgetDevSession(): void {
  localStorage.removeItem(STORAGE_KEY);
}

function devSession(token: string): Session {
  return { kind: "development", token: async () => token };
}
