import { afterEach, describe, expect, it, vi } from "vitest";
import { accessToken, hasSession, login, logout, onSignedOut } from "./session";

const pair = (n: number, expiresIn = 900) => ({
  access_token: `access-${n}`,
  refresh_token: `refresh-${n}`,
  expires_in: expiresIn,
  token_type: "Bearer",
});

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

afterEach(() => {
  vi.unstubAllGlobals();
  sessionStorage.clear();
});

describe("the session", () => {
  it("keeps the refresh token in sessionStorage and the access token only in memory", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => json(pair(1))));
    await login("a@example.com", "pw");
    expect(sessionStorage.getItem("gsm.refresh")).toBe("refresh-1");
    expect(localStorage.length).toBe(0);
    expect(JSON.stringify(sessionStorage)).not.toContain("access-1");
    expect(await accessToken()).toBe("access-1");
  });

  it("refreshes once however many callers need a token at the same time", async () => {
    // An access token about to expire: every caller needs a refresh.
    let calls = 0;
    vi.stubGlobal(
      "fetch",
      vi.fn(async (url: string) => {
        if (url.endsWith("/login")) return json(pair(1, 1));
        calls++;
        await new Promise((r) => setTimeout(r, 10));
        return json(pair(2));
      }),
    );
    await login("a@example.com", "pw");
    const tokens = await Promise.all([accessToken(), accessToken(), accessToken()]);
    expect(tokens).toEqual(["access-2", "access-2", "access-2"]);
    expect(calls).toBe(1);
    expect(sessionStorage.getItem("gsm.refresh")).toBe("refresh-2");
  });

  it("ends the session and says why when the refresh token is refused", async () => {
    vi.stubGlobal(
      "fetch",
      vi.fn(async (url: string) =>
        url.endsWith("/login") ? json(pair(1, 1)) : json({ error: { code: "unauthorized", message: "no" } }, 401),
      ),
    );
    await login("a@example.com", "pw");
    const reasons: (string | null)[] = [];
    const off = onSignedOut((reason) => reasons.push(reason));
    expect(await accessToken()).toBeNull();
    off();
    expect(hasSession()).toBe(false);
    expect(reasons).toEqual(["Your session has ended; sign in again."]);
  });

  it("logs out on the server with the access token and forgets both tokens", async () => {
    const seen: { url: string; auth: string | null }[] = [];
    vi.stubGlobal(
      "fetch",
      vi.fn(async (url: string, init?: RequestInit) => {
        seen.push({ url, auth: new Headers(init?.headers).get("Authorization") });
        return url.endsWith("/login") ? json(pair(1)) : new Response(null, { status: 204 });
      }),
    );
    await login("a@example.com", "pw");
    await logout();
    expect(seen[1]).toEqual({ url: "/api/v1/auth/logout", auth: "Bearer access-1" });
    expect(hasSession()).toBe(false);
  });
});
