// The catalog from GET /v1/models, loaded once per session and grouped by provider.

import { api } from "./api.js";
import { PROVIDERS, providerName } from "./providers.js";
import { session } from "./session.js";

export async function loadModels() {
  if (!session.models) {
    const body = await api.get("/v1/models");
    session.models = body.data;
  }
  return session.models;
}

/** [{provider, name, models}] in Settings' provider order; "auto" is left out. */
export function groupByProvider(models) {
  const groups = new Map();
  for (const model of models) {
    if (model.id === "auto") continue;
    if (!groups.has(model.owned_by)) groups.set(model.owned_by, []);
    groups.get(model.owned_by).push(model);
  }
  const order = PROVIDERS.map((p) => p.id);
  return [...groups.entries()]
    .sort(([a], [b]) => (order.indexOf(a) + 1 || 99) - (order.indexOf(b) + 1 || 99))
    .map(([provider, list]) => ({ provider, name: providerName(provider), models: list }));
}

/** Providers the platform itself can serve (the catalog's `platform_access`). */
export function platformProviders(models) {
  return new Set(models.filter((m) => m.platform_access).map((m) => m.owned_by));
}

export const DEMO_TITLE = "Answered by make dev's local demo provider, not the real provider";

/** The picker's text: a model served by `make dev`'s demo provider says so. */
export function modelLabel(model) {
  return model.demo ? `${model.display_name} (demo)` : model.display_name;
}

export function modelName(models, id) {
  const found = (models || []).find((m) => m.id === id);
  return found ? found.display_name : id;
}
