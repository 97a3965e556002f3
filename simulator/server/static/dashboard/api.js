// Calls to the admin API and the dashboard's own routes. The admin token, when one is needed, lives in
// this tab's sessionStorage only and travels as an Authorization header: never in a URL or a cookie.

export const API = "/_sim/ui/api";
const TOKEN_KEY = "spotnana-sim.admin-token";

/** The admin API refused: no token, a wrong one, or not from loopback. */
export class AuthRequired extends Error {}

/** Any other refusal, with the simulator's own message. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message || `HTTP ${status}`);
    this.status = status;
  }
}

export function storedToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function storeToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** The message of an error answer in either dialect (spotnana or rfc6749). */
export function messageOf(body) {
  if (!body || typeof body !== "object") return "";
  const first = Array.isArray(body.errorMessages) ? body.errorMessages[0] : null;
  if (first && typeof first.message === "string") return first.message;
  if (typeof body.error_description === "string") return body.error_description;
  if (typeof body.error === "string") return body.error;
  return "";
}

export async function call(method, path, body) {
  const headers = { Accept: "application/json" };
  const token = storedToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  const init = { method, headers, cache: "no-store", credentials: "omit", redirect: "error" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (response.status === 401 || response.status === 403) throw new AuthRequired(messageOf(data));
  if (!response.ok) throw new ApiError(response.status, messageOf(data));
  return data;
}
