// The signed-in session's tokens, and the one place they are kept.
//
// The access token (a JWT that lives minutes) is kept in memory only. The refresh token is kept
// in sessionStorage: it survives a reload of the tab but not closing it, and it is never shared
// between tabs. That matters because refresh tokens rotate and the server revokes the whole
// session when a used one is presented again: two tabs sharing one token (localStorage) would race
// and sign each other out. An httpOnly cookie would hide it from scripts entirely, but the API
// takes refresh tokens in the body; the strict CSP (no inline or foreign scripts) and rendering
// every server string as text are what keep scripts from reading it. Refreshes are single-flight.
import type { components } from "../api/schema";

type TokenPair = components["schemas"]["TokenPair"];

const REFRESH_KEY = "gsm.refresh";
/** Refresh this long before the access token expires. */
const EARLY_MS = 30_000;

let access: { token: string; expiresAt: number } | null = null;
let inflight: Promise<string | null> | null = null;
const listeners = new Set<(reason: string | null) => void>();

function store(pair: TokenPair): void {
  access = { token: pair.access_token, expiresAt: Date.now() + pair.expires_in * 1000 };
  sessionStorage.setItem(REFRESH_KEY, pair.refresh_token);
}

function clear(): void {
  access = null;
  sessionStorage.removeItem(REFRESH_KEY);
}

/** Called with a reason when the session ends without the user asking. */
export function onSignedOut(listener: (reason: string | null) => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function signedOut(reason: string | null): void {
  if (!access && !sessionStorage.getItem(REFRESH_KEY)) return;
  clear();
  for (const listener of listeners) listener(reason);
}

export function hasSession(): boolean {
  return access !== null || sessionStorage.getItem(REFRESH_KEY) !== null;
}

async function post(path: string, body: unknown): Promise<Response> {
  return fetch(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
}

async function errorText(response: Response): Promise<string> {
  try {
    const body = (await response.json()) as { error?: { message?: string } };
    return body.error?.message ?? `the server answered ${response.status}`;
  } catch {
    return `the server answered ${response.status}`;
  }
}

/** Starts a session from a token pair the server handed out (a new user accepting an invite). */
export function adopt(pair: TokenPair): void {
  store(pair);
}

export async function login(email: string, password: string): Promise<void> {
  const response = await post("/api/v1/auth/login", { email, password });
  if (!response.ok) throw new Error(await errorText(response));
  store((await response.json()) as TokenPair);
}

/** Trades the refresh token for a new pair (once at a time); null when there is no session. */
export function refresh(): Promise<string | null> {
  if (inflight) return inflight;
  const token = sessionStorage.getItem(REFRESH_KEY);
  if (!token) return Promise.resolve(null);
  inflight = (async () => {
    try {
      const response = await post("/api/v1/auth/refresh", { refresh_token: token });
      if (!response.ok) {
        signedOut(response.status === 401 ? "Your session has ended; sign in again." : await errorText(response));
        return null;
      }
      store((await response.json()) as TokenPair);
      return access?.token ?? null;
    } finally {
      inflight = null;
    }
  })();
  return inflight;
}

/** A valid access token, refreshed first when it is about to expire; null when signed out. */
export async function accessToken(): Promise<string | null> {
  if (access && access.expiresAt - Date.now() > EARLY_MS) return access.token;
  return refresh();
}

/** Ends the session on the server (it revokes every token of it) and forgets the tokens. */
export async function logout(): Promise<void> {
  const token = await accessToken().catch(() => null);
  clear();
  if (token) {
    // Best effort: the tokens are gone from this tab either way.
    await fetch("/api/v1/auth/logout", { method: "POST", headers: { Authorization: `Bearer ${token}` } }).catch(
      () => undefined,
    );
  }
}
