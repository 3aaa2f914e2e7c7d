// chat-api over fetch: JSON in and out, problem+json errors raised as ApiError.

import { session } from "./session.js";

export class ApiError extends Error {
  /** `problem` is the RFC 9457 body: {type, title, status, detail, ...}. */
  constructor(problem, retryAfter = null) {
    super(problem.detail || problem.title || "request failed");
    this.problem = problem;
    this.status = problem.status;
    this.slug = slugOf(problem.type);
    this.retryAfter = retryAfter;
  }
}

/** "https://switchyard.dev/problems/no-access" → "no-access". */
export function slugOf(type) {
  if (!type) return "internal";
  return String(type).split("/").pop();
}

const listeners = new Set();

/** Called with no argument whenever the server says the session is gone (401). */
export function onUnauthorized(listener) {
  listeners.add(listener);
}

function headers(extra = {}) {
  const result = { Accept: "application/json", ...extra };
  if (session.token) result.Authorization = `Bearer ${session.token}`;
  return result;
}

/** The ApiError for a failed response; the body is problem+json or, rarely, something else. */
export async function errorOf(response) {
  let problem;
  try {
    problem = await response.json();
  } catch {
    problem = {};
  }
  if (problem && problem.error && !problem.type) {
    // The OpenAI shape of /v1/models: {"error": {"message", "code"}}.
    problem = { type: String(problem.error.code || "").replaceAll("_", "-"), detail: problem.error.message };
  }
  problem = { status: response.status, title: response.statusText, ...problem };
  const retry = Number(response.headers.get("Retry-After"));
  const error = new ApiError(problem, Number.isFinite(retry) && retry > 0 ? retry : null);
  if (response.status === 401) for (const listener of listeners) listener();
  return error;
}

function networkError() {
  return new ApiError({ type: "network", title: "Network error", status: 0, detail: "" });
}

/** fetch with the session's token; `body` is sent as JSON. Returns the response (ok or not). */
export async function raw(method, path, { body, signal, headers: extra } = {}) {
  const init = { method, headers: headers(extra), signal };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = typeof body === "string" ? body : JSON.stringify(body);
  }
  try {
    return await fetch(path, init);
  } catch (error) {
    if (error && error.name === "AbortError") throw error;
    throw networkError();
  }
}

/** The parsed JSON of a successful call (null for 204); ApiError otherwise. */
export async function call(method, path, options = {}) {
  const response = await raw(method, path, options);
  if (!response.ok) throw await errorOf(response);
  if (response.status === 204) return null;
  return response.json();
}

export const api = {
  get: (path, options) => call("GET", path, options),
  post: (path, body, options = {}) => call("POST", path, { ...options, body }),
  put: (path, body, options = {}) => call("PUT", path, { ...options, body }),
  patch: (path, body, options = {}) => call("PATCH", path, { ...options, body }),
  delete: (path, options) => call("DELETE", path, options),
};
