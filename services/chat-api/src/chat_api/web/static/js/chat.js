// Chat: the conversation list, the model picker and streamed answers.

import { api, errorOf, raw } from "./api.js";
import { clear, h, toast, uid } from "./dom.js";
import { describe, humanMessage } from "./errors.js";
import { renderMarkdown } from "./markdown.js";
import { DEMO_TITLE, groupByProvider, loadModels, modelLabel, modelName } from "./models.js";
import { accessLabel, providerName } from "./providers.js";
import { readEvents } from "./sse.js";

const MODEL_PREFERENCE = "switchyard.model"; // which model was picked last: not a secret

function requestId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

export async function renderChat(main, conversationId) {
  const state = { id: conversationId || null, models: [], controller: null, lastPrompt: null };

  const list = h("ul.conversation-list", { "aria-label": "Conversations" });
  const sidebarId = uid("sidebar");
  const sidebar = h(
    "aside.sidebar",
    { id: sidebarId, "aria-label": "Conversations" },
    h("button.button.primary.new-chat", { type: "button", onclick: () => newChat() }, "+ New chat"),
    h("h2.visually-hidden", {}, "Your conversations"),
    list,
  );
  const toggle = h(
    "button.button.subtle.sidebar-toggle",
    {
      type: "button",
      "aria-controls": sidebarId,
      "aria-expanded": "false",
      onclick: () => {
        const open = sidebar.classList.toggle("open");
        toggle.setAttribute("aria-expanded", String(open));
      },
    },
    "Chats",
  );

  const pickerId = uid("model");
  const picker = h("select", { id: pickerId, name: "model" });
  const log = h("div.messages", { role: "log", "aria-live": "polite", "aria-label": "Messages" });
  const inputId = uid("prompt");
  const input = h("textarea", {
    id: inputId,
    name: "prompt",
    rows: 1,
    placeholder: "Message Switchyard…",
    "aria-describedby": `${inputId}-keys`,
    required: true,
    onkeydown: (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        form.requestSubmit();
      } else if (event.key === "Escape" && state.controller) {
        stopAnswer();
      }
    },
    oninput: () => autosize(input),
  });
  const send = h("button.button.primary.send", { type: "submit" }, "Send");
  const stop = h("button.button.danger.stop", { type: "button", hidden: true, onclick: () => stopAnswer() }, "Stop");
  const form = h(
    "form.composer",
    { onsubmit: onSubmit },
    h("label.visually-hidden", { for: inputId }, "Message"),
    h("p.visually-hidden", { id: `${inputId}-keys` }, "Enter sends, Shift+Enter adds a line, Escape stops an answer."),
    input,
    h("div.composer-actions", {}, stop, send),
  );
  const title = h("h1.chat-title", {}, "New chat");

  main.append(
    h(
      "div.chat-layout",
      {},
      sidebar,
      h(
        "section.chat",
        { "aria-labelledby": "chat-title" },
        h(
          "div.chat-header",
          {},
          toggle,
          Object.assign(title, { id: "chat-title" }),
          h("div.picker", {}, h("label", { for: pickerId }, "Model"), picker),
        ),
        log,
        form,
      ),
    ),
  );

  function autosize(area) {
    area.style.height = "auto";
    area.style.height = `${Math.min(area.scrollHeight, 240)}px`;
  }

  function newChat() {
    stopAnswer();
    if (state.id) {
      location.hash = "#/chat"; // the router draws a fresh chat
      return;
    }
    title.textContent = "New chat";
    showEmpty();
    input.focus();
  }

  function showEmpty() {
    clear(log).append(
      h(
        "div.empty",
        {},
        h("h2", {}, "What can I help with?"),
        h(
          "p",
          {},
          "Pick a model above, or leave it on Auto. Answers use your own key for a provider when you have one (",
          h("a", { href: "#/settings/keys" }, "Settings → API keys"),
          "), otherwise the platform's access.",
        ),
      ),
    );
  }

  async function refreshList() {
    let conversations = [];
    try {
      conversations = await api.get("/v1/conversations");
    } catch (error) {
      toast(humanMessage(error), "error");
    }
    clear(list);
    if (!conversations.length) list.append(h("li.muted", {}, "No conversations yet."));
    for (const c of conversations) {
      list.append(
        h(
          "li",
          {},
          h(
            "a",
            { href: `#/chat/${encodeURIComponent(c.id)}`, "aria-current": c.id === state.id ? "page" : undefined },
            c.title,
          ),
        ),
      );
    }
  }

  function fillPicker(models) {
    const remembered = localStorage.getItem(MODEL_PREFERENCE);
    clear(picker).append(h("option", { value: "auto" }, "Auto (Switchyard picks)"));
    for (const group of groupByProvider(models)) {
      picker.append(
        h("optgroup", { label: group.name }, group.models.map((m) => h("option", { value: m.id }, modelLabel(m)))),
      );
    }
    picker.value = models.some((m) => m.id === remembered) ? remembered : "auto";
    picker.addEventListener("change", () => localStorage.setItem(MODEL_PREFERENCE, picker.value));
  }

  function userBubble(content) {
    return h("article.message.user", { "aria-label": "You" }, h("div.content", {}, content));
  }

  function assistantBubble() {
    const content = h("div.content.markdown");
    const badge = h("footer.badge", { hidden: true });
    const status = h("div.answer-status", { role: "status" });
    const actions = h("div.answer-actions");
    const el = h("article.message.assistant", { "aria-label": "Answer", "aria-busy": "true" }, content, status, badge, actions);
    return { el, content, badge, status, actions, text: "" };
  }

  function setBadge(bubble, { model, provider, key_source: source, fell_back: fellBack, auto_reason: autoReason, demo }) {
    const parts = [
      h("span.badge-model", {}, modelName(state.models, model) || model),
      h(`span.badge-access.${source}`, { "data-key-source": source }, accessLabel(source)),
    ];
    if (demo) parts.push(h("span.badge-demo", { title: DEMO_TITLE }, "demo"));
    if (fellBack) parts.push(h("span.badge-note", {}, "your key failed, so the platform answered"));
    clear(bubble.badge).append(...parts);
    bubble.badge.dataset.model = model || "";
    bubble.badge.dataset.provider = provider || "";
    const via = `${providerName(provider)} via ${accessLabel(source)}${demo ? " (demo provider)" : ""}`;
    bubble.badge.title = autoReason ? `Auto: ${autoReason}` : via;
    bubble.badge.hidden = false;
  }

  function showError(bubble, error, provider) {
    const { slug, message, detail } = describe(error, { provider });
    bubble.el.classList.add("failed");
    clear(bubble.status).append(
      h("p.error-message", { "data-problem": slug }, message),
      detail && detail !== message ? h("p.error-detail", {}, detail) : null,
    );
  }

  function renderText(bubble) {
    clear(bubble.content).append(renderMarkdown(bubble.text));
  }

  function addRetry(bubble, prompt) {
    clear(bubble.actions).append(
      h(
        "button.button.subtle.retry",
        {
          type: "button",
          onclick: () => {
            if (state.controller) return; // one answer at a time
            bubble.el.remove();
            ask(prompt);
          },
        },
        "Retry",
      ),
    );
  }

  function streaming(on) {
    send.hidden = on;
    stop.hidden = !on;
    picker.disabled = on;
    if (!on) state.controller = null;
  }

  function stopAnswer() {
    if (state.controller) state.controller.abort();
  }

  async function onSubmit(event) {
    event.preventDefault();
    const content = input.value;
    if (!content.trim() || state.controller) return;
    input.value = "";
    autosize(input);
    if (log.querySelector(".empty")) clear(log);
    log.append(userBubble(content));
    await ask(content);
  }

  async function ask(content) {
    for (const old of log.querySelectorAll(".retry")) old.remove();
    const bubble = assistantBubble();
    log.append(bubble.el);
    bubble.el.scrollIntoView({ block: "end" });
    const model = picker.value;
    const provider = model === "auto" ? "" : model.split("/")[0];
    state.controller = new AbortController();
    streaming(true);
    let pending = false;
    try {
      if (!state.id) {
        const titleText = content.trim().split("\n")[0].slice(0, 80);
        const created = await api.post("/v1/conversations", { title: titleText });
        state.id = created.id;
        title.textContent = created.title;
        history.replaceState(null, "", `#/chat/${encodeURIComponent(created.id)}`);
        refreshList();
      }
      const response = await raw("POST", `/v1/conversations/${encodeURIComponent(state.id)}/messages`, {
        body: { content, model },
        signal: state.controller.signal,
        headers: { Accept: "text/event-stream", "Idempotency-Key": requestId() },
      });
      if (!response.ok) throw await errorOf(response);
      let route = null;
      for await (const { event, data } of readEvents(response.body)) {
        if (event === "route") {
          route = data;
          setBadge(bubble, data);
        } else if (event === "delta") {
          bubble.text += data.text;
          if (!pending) {
            pending = true;
            requestAnimationFrame(() => {
              pending = false;
              renderText(bubble);
              bubble.el.scrollIntoView({ block: "end" });
            });
          }
        } else if (event === "usage") {
          bubble.badge.append(
            h("span.badge-usage", {}, `${data.input_tokens + data.output_tokens} tokens`),
          );
        } else if (event === "error") {
          showError(bubble, { slug: (data.type || "").split("/").pop(), problem: data }, route && route.provider);
        }
      }
    } catch (error) {
      if (error && error.name === "AbortError") {
        clear(bubble.status).append(h("p.muted", {}, "Stopped."));
      } else {
        showError(bubble, error.problem ? error : { slug: "network", problem: {} }, provider);
      }
    } finally {
      renderText(bubble);
      if (!bubble.text && !bubble.status.childNodes.length) bubble.status.append(h("p.muted", {}, "(no answer)"));
      bubble.el.setAttribute("aria-busy", "false");
      addRetry(bubble, content);
      streaming(false);
      input.focus();
    }
  }

  function storedAnswer(message) {
    const bubble = assistantBubble();
    bubble.text = message.content;
    renderText(bubble);
    bubble.el.setAttribute("aria-busy", "false");
    if (message.model) setBadge(bubble, { model: message.model, provider: message.provider, key_source: message.key_source });
    if (message.error_type === "cancelled") {
      bubble.status.append(h("p.muted", {}, "Stopped."));
    } else if (message.error_type) {
      showError(bubble, { slug: message.error_type.split("/").pop(), problem: {} }, message.provider);
    }
    return bubble;
  }

  // Initial load: the models, the list and (when one is open) the conversation.
  try {
    state.models = await loadModels();
    fillPicker(state.models);
  } catch (error) {
    fillPicker([]);
    toast(humanMessage(error), "error");
  }
  refreshList();
  if (state.id) {
    try {
      const detail = await api.get(`/v1/conversations/${encodeURIComponent(state.id)}`);
      title.textContent = detail.title;
      let last = null;
      for (const message of detail.messages) {
        if (message.role === "user") {
          log.append(userBubble(message.content));
          last = message.content;
        } else {
          const bubble = storedAnswer(message);
          log.append(bubble.el);
          state.lastBubble = bubble;
        }
      }
      if (state.lastBubble && last !== null) addRetry(state.lastBubble, last);
      if (!detail.messages.length) showEmpty();
    } catch (error) {
      toast(humanMessage(error), "error");
      showEmpty();
    }
  } else {
    showEmpty();
  }
  input.focus();
  return () => stopAnswer();
}
