// The typed REST client: openapi-fetch over the types generated from docs/openapi.json, so a
// changed route or body fails `npm run check-types` instead of failing in a user's browser.
// Every call gets the session's access token; an error answer becomes an `ApiError` with the
// server's code and message.
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema";
import { accessToken, signedOut } from "../auth/session";

export type Schemas = components["schemas"];
export type Host = Schemas["Host"];
export type Job = Schemas["Job"];
export type JobState = Schemas["JobState"];

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** The request body's field the error is about (a dotted path), when the server names one. */
    readonly field?: string,
  ) {
    super(message);
  }
}

const auth: Middleware = {
  async onRequest({ request }) {
    const token = await accessToken();
    if (token) request.headers.set("Authorization", `Bearer ${token}`);
    return request;
  },
  onResponse({ response }) {
    if (response.status === 401) signedOut("Your session has ended; sign in again.");
    return response;
  },
};

export const api = createClient<paths>({ baseUrl: "" });
api.use(auth);

/** The data of an answer, or throws its error as an `ApiError`. */
export function unwrap<T>(result: { data?: T; error?: unknown; response: Response }): T {
  if (result.error !== undefined || result.data === undefined) {
    if (result.response.ok && result.error === undefined) return undefined as T; // 204
    const body = result.error as { error?: { code?: string; message?: string; field?: string | null } } | undefined;
    throw new ApiError(
      result.response.status,
      body?.error?.code ?? "http_error",
      body?.error?.message ?? `the server answered ${result.response.status}`,
      body?.error?.field ?? undefined,
    );
  }
  return result.data;
}

/** A message for people from any error. */
export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof Error) return error.message;
  return String(error);
}
