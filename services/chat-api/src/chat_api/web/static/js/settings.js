// Settings: your API keys, and (for org owners and admins) the org's keys and policy.

import { api } from "./api.js";
import { clear, h, toast, uid } from "./dom.js";
import { humanMessage } from "./errors.js";
import { renderKeySection } from "./keys.js";
import { loadModels, platformProviders } from "./models.js";
import { PROVIDERS } from "./providers.js";
import { session } from "./session.js";

const ADMIN_ROLES = new Set(["owner", "admin"]);

export async function renderSettings(main, tab) {
  const orgs = session.me.orgs;
  const tabs = [
    { id: "keys", label: "API keys" },
    { id: "org", label: "Organisation" },
  ];
  const body = h("div.settings-body");
  main.append(
    h(
      "section.page",
      { "aria-labelledby": "settings-title" },
      h("h1", { id: "settings-title" }, "Settings"),
      h(
        "nav.tabs",
        { "aria-label": "Settings sections" },
        tabs.map((t) =>
          h("a", { href: `#/settings/${t.id}`, "aria-current": t.id === tab ? "page" : undefined }, t.label),
        ),
      ),
      body,
    ),
  );
  const models = await loadModels().catch(() => []);
  const platform = platformProviders(models);
  if (tab === "org") return renderOrgTab(body, orgs, platform);
  return renderUserKeys(body, orgs, platform);
}

async function renderUserKeys(body, orgs, platform) {
  // The org whose policy and keys apply to this user's chats: the earliest membership.
  const org = orgs[0] || null;
  let policy = {};
  let orgKeys = new Set();
  if (org) {
    policy = (await api.get(`/v1/orgs/${org.id}/policy`).catch(() => ({ providers: {} }))).providers;
    if (ADMIN_ROLES.has(org.role)) {
      const keys = await api.get(`/v1/orgs/${org.id}/keys`).catch(() => []);
      orgKeys = new Set(keys.filter((k) => k.status === "active").map((k) => k.provider));
    }
  }
  const section = h("section.keys", { "aria-labelledby": "keys-title" });
  body.append(section);
  section.append(
    h("h2", { id: "keys-title" }, "API keys"),
    h(
      "p.lede",
      {},
      "Add your own key for a provider and your chats with its models use it: you pay the provider directly and the " +
        "platform quota isn't touched. Without a key, chats use the platform's access where there is one.",
    ),
  );
  const usage = await api.get("/v1/usage").catch(() => null);
  const quotaSpent = Boolean(usage && usage.quota.platform_tokens_remaining <= 0);
  await renderKeySection(section, { scope: "user", base: "/v1/keys" }, { platform, policy, orgKeys, quotaSpent });
}

async function renderOrgTab(body, orgs, platform) {
  const adminOrgs = orgs.filter((o) => ADMIN_ROLES.has(o.role));
  if (!adminOrgs.length) {
    body.append(
      h("h2", {}, "Organisation"),
      h(
        "p.lede",
        {},
        orgs.length
          ? "Only an organisation's owners and admins manage its keys and policy; ask one of them."
          : "You're not in an organisation. Create one to share provider keys and set a policy for its members.",
      ),
      createOrgForm(),
    );
    return;
  }
  const pickerId = uid("org");
  const picker = h(
    "select",
    { id: pickerId },
    adminOrgs.map((o) => h("option", { value: o.id }, o.name)),
  );
  const content = h("div.org-content");
  body.append(
    h("div.org-picker", {}, h("label", { for: pickerId }, "Organisation"), picker),
    content,
  );
  async function show() {
    const org = adminOrgs.find((o) => o.id === picker.value);
    clear(content);
    const keys = h("section.keys", { "aria-labelledby": "org-keys-title" });
    keys.append(
      h("h2", { id: "org-keys-title" }, `${org.name}: API keys`),
      h("p.lede", {}, "Members' chats use the org's key for a provider when they have no key of their own."),
    );
    const policySection = h("section.policy", { "aria-labelledby": "policy-title" });
    content.append(keys, policySection);
    const policy = (await api.get(`/v1/orgs/${org.id}/policy`)).providers;
    await renderKeySection(keys, { scope: "org", base: `/v1/orgs/${org.id}/keys`, orgName: org.name }, { platform, policy });
    renderPolicy(policySection, org, policy);
  }
  picker.addEventListener("change", show);
  await show();
}

function renderPolicy(section, org, policy) {
  const error = h("p.form-error", { role: "alert", hidden: true });
  const rows = PROVIDERS.map((p) => {
    const current = policy[p.id] || {};
    const require = uid("require");
    const forbid = uid("forbid");
    return h(
      "tr",
      { dataset: { provider: p.id } },
      h("th", { scope: "row" }, p.name),
      h(
        "td",
        {},
        h("input", { id: require, type: "checkbox", name: `require-${p.id}`, checked: Boolean(current.require_org_key) }),
        h("label.visually-hidden", { for: require }, `${p.name}: require the org's key`),
      ),
      h(
        "td",
        {},
        h("input", { id: forbid, type: "checkbox", name: `forbid-${p.id}`, checked: Boolean(current.forbid_platform) }),
        h("label.visually-hidden", { for: forbid }, `${p.name}: forbid platform access`),
      ),
    );
  });
  const form = h(
    "form.policy-form",
    { onsubmit: onSubmit },
    h(
      "div.table-wrap",
      {},
      h(
        "table",
        {},
        h("caption.visually-hidden", {}, "Provider policy"),
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Provider"), h("th", { scope: "col" }, "Require org key"), h("th", { scope: "col" }, "Forbid platform access"))),
        h("tbody", {}, rows),
      ),
    ),
    error,
    h("div.form-actions", {}, h("button.button.primary", { type: "submit" }, "Save policy")),
  );
  section.append(
    h("h2", { id: "policy-title" }, `${org.name}: policy`),
    h(
      "p.lede",
      {},
      "Require org key: members must use the org's key for that provider, never their own or the platform's (without an org key they have no access). " +
        "Forbid platform access: the platform's access is never used; the org's or a member's own key still may be.",
    ),
    form,
  );

  async function onSubmit(event) {
    event.preventDefault();
    error.hidden = true;
    const providers = {};
    for (const p of PROVIDERS) {
      const require = form.elements[`require-${p.id}`].checked;
      const forbid = form.elements[`forbid-${p.id}`].checked;
      if (require || forbid) providers[p.id] = { require_org_key: require, forbid_platform: forbid };
    }
    try {
      await api.put(`/v1/orgs/${org.id}/policy`, { providers });
      toast("Policy saved.");
    } catch (failure) {
      error.textContent = humanMessage(failure);
      error.hidden = false;
    }
  }
}

function createOrgForm() {
  const nameId = uid("org-name");
  const error = h("p.form-error", { role: "alert", hidden: true });
  const form = h(
    "form.inline-form",
    {
      onsubmit: async (event) => {
        event.preventDefault();
        try {
          await api.post("/v1/orgs", { name: form.elements.name.value });
          session.me = null;
          toast("Organisation created.");
          window.dispatchEvent(new HashChangeEvent("hashchange"));
        } catch (failure) {
          error.textContent = humanMessage(failure);
          error.hidden = false;
        }
      },
    },
    h("label", { for: nameId }, "Organisation name"),
    h("input", { id: nameId, name: "name", type: "text", required: true, maxlength: 200 }),
    h("button.button.primary", { type: "submit" }, "Create organisation"),
    error,
  );
  return form;
}
