// The providers chat-api takes keys for, in the order Settings lists them: chat-api writes
// registry.js from the one provider registry (switchyard_common.providers).
import { PROVIDERS } from "./registry.js";

export { PROVIDERS };

export function providerName(id) {
  const known = PROVIDERS.find((p) => p.id === id);
  return known ? known.name : id;
}

/** What a `key_source` means to a person. */
export const ACCESS_LABELS = { user: "your key", org: "org key", platform: "platform" };

export function accessLabel(source) {
  return ACCESS_LABELS[source] || source || "unknown";
}
