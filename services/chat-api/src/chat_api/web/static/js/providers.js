// The providers chat-api takes keys for, in the order Settings lists them.

export const PROVIDERS = [
  { id: "openai", name: "OpenAI", placeholder: "sk-proj-…" },
  { id: "anthropic", name: "Anthropic", placeholder: "sk-ant-api03-…" },
  { id: "google", name: "Google", placeholder: "AIza…" },
  { id: "mistral", name: "Mistral", placeholder: "32 characters" },
  { id: "groq", name: "Groq", placeholder: "gsk_…" },
  { id: "deepseek", name: "DeepSeek", placeholder: "sk-…" },
  { id: "xai", name: "xAI", placeholder: "xai-…" },
  { id: "together", name: "Together", placeholder: "64 characters" },
  { id: "openrouter", name: "OpenRouter", placeholder: "sk-or-v1-…" },
];

export function providerName(id) {
  const known = PROVIDERS.find((p) => p.id === id);
  return known ? known.name : id;
}

/** What a `key_source` means to a person. */
export const ACCESS_LABELS = { user: "your key", org: "org key", platform: "platform" };

export function accessLabel(source) {
  return ACCESS_LABELS[source] || source || "unknown";
}
