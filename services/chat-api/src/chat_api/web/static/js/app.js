// The single page: a hash router over the screens, and the shell around them.

import { api, onUnauthorized } from "./api.js";
import { renderAuth } from "./auth.js";
import { renderChat } from "./chat.js";
import { clear, toast } from "./dom.js";
import { humanMessage } from "./errors.js";
import { session } from "./session.js";
import { renderSettings } from "./settings.js";
import { renderUsage } from "./usage.js";

const main = document.getElementById("main");
const topbar = document.getElementById("topbar");
let leaving = null; // the current screen's cleanup (e.g. abort a stream)

const SCREENS = {
  login: { title: "Log in", render: (el) => renderAuth(el, "login"), public: true },
  signup: { title: "Sign up", render: (el) => renderAuth(el, "signup"), public: true },
  chat: { title: "Chat", nav: "chat", render: (el, rest) => renderChat(el, rest[0]) },
  settings: { title: "Settings", nav: "settings", render: (el, rest) => renderSettings(el, rest[0] || "keys") },
  usage: { title: "Usage", nav: "usage", render: (el) => renderUsage(el) },
};

function parseHash() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  return { name: parts[0] || "chat", rest: parts.slice(1) };
}

export function navigate(path) {
  if (location.hash === `#${path}`) route();
  else location.hash = path;
}

async function loadMe() {
  if (!session.me) session.me = await api.get("/v1/me");
  document.getElementById("account-email").textContent = session.me.user.email;
}

async function route() {
  const { name, rest } = parseHash();
  const screen = SCREENS[name];
  if (!screen) return navigate("/chat");
  if (!screen.public && !session.token) return navigate("/login");
  if (screen.public && session.token) return navigate("/chat");
  if (leaving) leaving();
  leaving = null;
  topbar.hidden = Boolean(screen.public);
  for (const link of document.querySelectorAll("[data-nav]")) {
    if (link.dataset.nav === screen.nav) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.title = `${screen.title} · Switchyard`;
  clear(main);
  main.dataset.screen = name;
  try {
    if (!screen.public) await loadMe();
    leaving = (await screen.render(main, rest)) || null;
  } catch (error) {
    if (error.status === 401) return;
    toast(humanMessage(error), "error");
  }
}

export function signedIn(token) {
  session.token = token;
  session.me = null;
  navigate("/chat");
}

function signedOut() {
  session.token = null;
  session.me = null;
  session.models = null;
  navigate("/login");
}

document.getElementById("logout").addEventListener("click", async () => {
  try {
    await api.post("/v1/auth/logout");
  } catch {
    // The token is dropped here either way; a failed logout call leaves it to expire.
  }
  signedOut();
  toast("You are logged out.");
});

onUnauthorized(() => {
  if (!session.token) return;
  signedOut();
  toast("Your session has ended. Please log in again.", "error");
});

window.addEventListener("hashchange", route);
route();
