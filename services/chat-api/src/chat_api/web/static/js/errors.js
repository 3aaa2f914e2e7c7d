// A clear, human message for every problem type chat-api answers (docs/chat-api.md, Errors).

import { providerName } from "./providers.js";

function retryHint(error) {
  return error.retryAfter ? ` Try again in ${Math.ceil(error.retryAfter)} s.` : " Try again in a moment.";
}

function providerOf(error, context) {
  return providerName(context.provider || error.problem.provider || "") || "the provider";
}

const MESSAGES = {
  "key-rejected": (e, c) =>
    c.verifying
      ? `${providerOf(e, c)} rejected this key, so it was not saved. Check that you copied the whole key and that it is still active.`
      : `${providerOf(e, c)} rejected your API key. Replace it in Settings → API keys, or remove it to use platform access.`,
  "no-access": (e, c) =>
    `You have no access to ${providerOf(e, c)}: the platform doesn't offer it to you (or your organisation's ` +
    `policy rules it out). Add your own ${providerOf(e, c)} key in Settings → API keys to use its models.`,
  "key-service-unavailable": () =>
    "Switchyard's key service is unavailable right now, so stored keys can't be used or added. Nothing was lost; try again in a minute.",
  "provider-rate-limited": (e, c) =>
    `${providerOf(e, c)} is rate-limiting these requests (too many at once, or the plan's limit).${retryHint(e)}`,
  "quota-exceeded": () =>
    "You've used this month's platform quota. Add your own provider key in Settings → API keys to keep chatting; the quota resets on the 1st (UTC).",
  "rate-limited": (e) => `You're going a little fast for Switchyard.${retryHint(e)}`,
  "provider-unavailable": (e, c) =>
    `${providerOf(e, c)} didn't answer (an outage or a timeout). Try again, or pick a model from another provider.`,
  "provider-bad-request": (e, c) => `${providerOf(e, c)} refused this request.`,
  "unknown-model": () => "That model isn't available any more. Pick another one from the list.",
  "credential-unusable": () =>
    "Your stored key can't be used any more (it was revoked or damaged). Add it again in Settings → API keys.",
  "chat-too-large": () => "This conversation has grown too long to send. Start a new chat to continue.",
  "payload-too-large": () => "That message is too large to send. Shorten it and try again.",
  "router-unavailable": () => "Switchyard can't reach its model router right now. Try again shortly.",
  unavailable: () => "Switchyard is briefly unavailable. Try again shortly.",
  unauthorized: (e, c) =>
    c.login ? "That email and password don't match an account." : "Your session has ended. Please log in again.",
  conflict: (e, c) =>
    c.register ? "An account with this email already exists. Log in instead." : "That changed at the same moment somewhere else. Try again.",
  validation: (e) => {
    const errors = Array.isArray(e.problem.errors) ? e.problem.errors : [];
    const first = errors.map((item) => item.msg).find(Boolean);
    return first ? `Please check what you entered: ${first.replace(/^Value error, /, "")}.` : "Please check what you entered.";
  },
  "bad-request": (e) => e.problem.detail || "The request wasn't understood.",
  forbidden: () => "Only the organisation's owners and admins can do that.",
  "not-found": () => "That no longer exists (or you can't see it).",
  "idempotency-key-reused": () => "That request was already sent with different content. Send it again.",
  http: () => "Switchyard didn't accept that request. Reload the page and try again.",
  network: () => "Can't reach Switchyard. Check your connection and try again.",
  internal: () => "Something went wrong on our side. Try again.",
};

/** {title, message, detail} for an ApiError (or an `error` event's data); `context` may name the provider. */
export function describe(error, context = {}) {
  const slug = error.slug || "internal";
  const explain = MESSAGES[slug] || MESSAGES.internal;
  const detail = error.problem && error.problem.detail ? String(error.problem.detail) : "";
  return { slug, title: (error.problem && error.problem.title) || "Error", message: explain(error, context), detail };
}

/** The plain message alone. */
export function humanMessage(error, context = {}) {
  return describe(error, context).message;
}
