// Settings → API keys: one row per provider for a user's own keys or an org's, with add/replace,
// verify and revoke. A pasted key goes into one request and is then dropped: the field is cleared
// before the request is even answered, and nothing keeps the string.

import { api } from "./api.js";
import { clear, formatTime, h, toast, uid } from "./dom.js";
import { humanMessage } from "./errors.js";
import { PROVIDERS } from "./providers.js";

const STATUS_TEXT = { active: "Active", invalid: "Invalid", expired: "Expired" };

/**
 * Draws the section into `container`.
 * owner: {scope: "user" | "org", base: "/v1/keys" | "/v1/orgs/<id>/keys", orgName?}
 * access: {platform: Set of providers with platform access, policy: {provider: {require_org_key,
 *          forbid_platform}}, orgKeys: Set of providers the user's org has a key for (when known),
 *          quotaSpent: the user's monthly platform quota is used up}
 */
export async function renderKeySection(container, owner, access) {
  const rows = h("div.key-rows");
  const dialog = revokeDialog();
  container.append(rows, dialog.el);

  async function refresh() {
    let keys;
    try {
      keys = await api.get(owner.base);
    } catch (error) {
      clear(rows).append(h("p.form-error", { role: "alert" }, humanMessage(error)));
      return;
    }
    const byProvider = new Map(keys.map((k) => [k.provider, k]));
    clear(rows);
    for (const provider of PROVIDERS) rows.append(keyRow(provider, byProvider.get(provider.id) || null));
  }

  function accessWithoutKey(provider) {
    const policy = (access.policy || {})[provider] || {};
    const orgHasKey = access.orgKeys && access.orgKeys.has(provider);
    if (owner.scope === "user") {
      if (orgHasKey) return { text: "Using your org's key", kind: "org" };
      if (policy.require_org_key) return { text: "No access: your organisation requires its own key", kind: "none" };
    }
    if (access.platform.has(provider) && !policy.forbid_platform) {
      if (access.quotaSpent) return { text: "No access: this month's platform quota is used up", kind: "none" };
      return { text: "Using platform access", kind: "platform" };
    }
    return { text: "No access", kind: "none" };
  }

  function keyRow(provider, key) {
    const headingId = uid("provider");
    const row = h("article.key-row", { "aria-labelledby": headingId, dataset: { provider: provider.id } });
    const formBox = h("div.key-form-box");
    const message = h("p.row-message", { role: "status" });
    const head = h("div.key-head", {}, h("h3", { id: headingId, tabindex: -1 }, provider.name));
    if (key) {
      head.append(h(`span.pill.${key.status}`, { "data-status": key.status }, STATUS_TEXT[key.status] || key.status));
      row.append(
        head,
        h(
          "dl.key-facts",
          {},
          fact("Label", key.label || "—"),
          fact("Key", h("code.hint", {}, key.hint)),
          fact("Added", formatTime(key.created_at)),
          fact("Last used", formatTime(key.last_used_at)),
          key.expires_at ? fact("Expires", formatTime(key.expires_at)) : null,
          fact("If it fails", key.fallback_to_platform ? "Falls back to platform access" : "No fallback"),
        ),
        h(
          "div.row-actions",
          {},
          h("button.button.subtle", { type: "button", onclick: () => verify(key, message) }, "Verify"),
          h("button.button.subtle", { type: "button", onclick: () => openForm(formBox, provider, key) }, "Replace"),
          h("button.button.danger-subtle", { type: "button", onclick: () => revoke(provider, key) }, "Revoke"),
        ),
      );
    } else {
      const state = accessWithoutKey(provider.id);
      head.append(h(`span.pill.access-${state.kind}`, {}, state.text));
      row.append(
        head,
        h(
          "div.row-actions",
          {},
          h("button.button.subtle", { type: "button", onclick: () => openForm(formBox, provider, null) }, "Add key"),
        ),
      );
    }
    row.append(message, formBox);
    return row;
  }

  function fact(term, value) {
    return [h("dt", {}, term), h("dd", {}, value)];
  }

  function openForm(box, provider, existing) {
    clear(box);
    const ids = { key: uid("key"), label: uid("label"), verify: uid("verify"), fallback: uid("fallback") };
    const error = h("p.form-error", { role: "alert", hidden: true });
    const save = h("button.button.primary", { type: "submit" }, existing ? "Replace key" : "Save key");
    const whose = owner.scope === "org" ? `${owner.orgName || "the org"}'s` : "your";
    const form = h(
      "form.key-form",
      { autocomplete: "off", onsubmit: onSubmit, "aria-label": `${existing ? "Replace" : "Add"} ${provider.name} key` },
      h("label", { for: ids.key }, `${provider.name} API key`),
      h("input", {
        id: ids.key,
        name: "api_key",
        type: "password",
        autocomplete: "off",
        spellcheck: "false",
        autocapitalize: "off",
        required: true,
        placeholder: provider.placeholder,
        "aria-describedby": `${ids.key}-hint`,
      }),
      h(
        "p.hint",
        { id: `${ids.key}-hint` },
        existing
          ? `Replaces ${whose} current key at once; the old one is revoked. Switchyard encrypts the key and never shows it again.`
          : "Switchyard encrypts the key as soon as it arrives and never shows it again, only a masked hint.",
      ),
      h("label", { for: ids.label }, "Label (optional)"),
      h("input", { id: ids.label, name: "label", type: "text", maxlength: 200, value: existing && existing.label ? existing.label : "" }),
      h(
        "div.check",
        {},
        h("input", { id: ids.verify, name: "verify", type: "checkbox", checked: true }),
        h("label", { for: ids.verify }, `Verify with ${provider.name} before saving`),
      ),
      h(
        "div.check.switch",
        {},
        h("input", {
          id: ids.fallback,
          name: "fallback",
          type: "checkbox",
          role: "switch",
          checked: Boolean(existing && existing.fallback_to_platform),
          "aria-describedby": `${ids.fallback}-hint`,
        }),
        h("label", { for: ids.fallback }, "Fall back to platform access"),
        h("p.hint", { id: `${ids.fallback}-hint` }, fallbackExplanation(provider.name, owner.scope)),
      ),
      error,
      h(
        "div.form-actions",
        {},
        save,
        h("button.button.subtle", { type: "button", onclick: () => clear(box) }, "Cancel"),
      ),
    );
    box.append(form);
    form.elements.api_key.focus();

    async function onSubmit(event) {
      event.preventDefault();
      error.hidden = true;
      const field = form.elements.api_key;
      const payload = {
        provider: provider.id,
        label: form.elements.label.value.trim() || null,
        verify: form.elements.verify.checked,
      };
      payload.fallback_to_platform = form.elements.fallback.checked;
      // The key goes straight into the request body; the field is emptied before anything else
      // happens and no variable outlives this call, so the page keeps no copy of it.
      let body = JSON.stringify({ ...payload, api_key: field.value });
      field.value = "";
      field.defaultValue = "";
      save.disabled = true;
      save.textContent = payload.verify ? "Verifying…" : "Saving…";
      try {
        const request = api.post(owner.base, body);
        body = null;
        await request;
        clear(box);
        toast(`${provider.name} key saved.`);
        await refresh();
        const row = rows.querySelector(`[data-provider="${provider.id}"]`);
        if (row) row.querySelector("h3").focus(); // keyboard users land on the row they changed
      } catch (failure) {
        body = null;
        error.textContent = `${humanMessage(failure, { provider: provider.id, verifying: payload.verify })} Paste the key again to retry.`;
        error.hidden = false;
        save.disabled = false;
        save.textContent = existing ? "Replace key" : "Save key";
        field.focus();
      }
    }
  }

  function fallbackExplanation(name, scope) {
    const whoseKey = scope === "org" ? "the org's key" : "your key";
    const whose = scope === "org" ? "members' messages" : "your messages";
    const quota = scope === "org" ? "each member's monthly platform quota" : "your monthly platform quota";
    return (
      `When ${name} rate-limits ${whoseKey} or is down, answer through Switchyard's own access instead of failing. ` +
      `Those answers count against ${quota} rather than the ${name} bill, and ${whose} then go to ${name} under the ` +
      `platform's account, not ${scope === "org" ? "the org's" : "yours"}. Off: ${whose} only ever use ${whoseKey}.`
    );
  }

  async function verify(key, message) {
    message.textContent = "Checking with the provider…";
    try {
      const result = await api.post(`${owner.base}/${encodeURIComponent(key.id)}/verify`);
      const verdicts = {
        valid: "Verified: the provider accepted this key.",
        rejected: "The provider rejected this key. Replace it, or revoke it.",
        unreachable: "The provider could not be reached, so the key wasn't checked. Try again later.",
      };
      await refresh();
      const row = rows.querySelector(`[data-provider="${key.provider}"] .row-message`);
      if (row) row.textContent = verdicts[result.verdict] || result.message;
    } catch (error) {
      message.textContent = humanMessage(error, { provider: key.provider });
    }
  }

  async function revoke(provider, key) {
    const confirmed = await dialog.ask(provider, owner);
    if (!confirmed) return;
    try {
      await api.delete(`${owner.base}/${encodeURIComponent(key.id)}`);
      toast(`${provider.name} key revoked.`);
    } catch (error) {
      toast(humanMessage(error, { provider: provider.id }), "error");
    }
    await refresh();
  }

  await refresh();
  return { refresh };
}

function revokeDialog() {
  const titleId = uid("revoke-title");
  const text = h("p");
  const heading = h("h2", { id: titleId });
  const el = h(
    "dialog.confirm",
    { "aria-labelledby": titleId },
    h(
      "form",
      { method: "dialog" },
      heading,
      text,
      h(
        "div.form-actions",
        {},
        h("button.button.subtle", { value: "cancel", type: "submit" }, "Cancel"),
        h("button.button.danger", { value: "revoke", type: "submit" }, "Revoke key"),
      ),
    ),
  );
  return {
    el,
    ask(provider, owner) {
      heading.textContent = `Revoke the ${provider.name} key?`;
      text.textContent =
        (owner.scope === "org"
          ? `Members' chats stop using the org's ${provider.name} key at once. `
          : `Your chats stop using this key at once and Switchyard deletes it. `) +
        "To use it again you'll have to paste it again.";
      el.returnValue = "";
      el.showModal();
      el.querySelector("button[value=cancel]").focus();
      return new Promise((resolve) => {
        el.addEventListener("close", () => resolve(el.returnValue === "revoke"), { once: true });
      });
    },
  };
}
