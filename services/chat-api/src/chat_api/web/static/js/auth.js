// Log in and sign up.

import { api } from "./api.js";
import { signedIn } from "./app.js";
import { h, uid } from "./dom.js";
import { humanMessage } from "./errors.js";

export function renderAuth(main, mode) {
  const signup = mode === "signup";
  const emailId = uid("email");
  const passwordId = uid("password");
  const error = h("p.form-error", { role: "alert", hidden: true });
  const submit = h("button.button.primary", { type: "submit" }, signup ? "Create account" : "Log in");
  const form = h(
    "form.auth-form",
    { "aria-labelledby": "auth-title", onsubmit: onSubmit },
    h("label", { for: emailId }, "Email"),
    h("input", { id: emailId, name: "email", type: "email", autocomplete: "email", required: true }),
    h("label", { for: passwordId }, "Password"),
    h("input", {
      id: passwordId,
      name: "password",
      type: "password",
      autocomplete: signup ? "new-password" : "current-password",
      minlength: 10,
      required: true,
      "aria-describedby": signup ? `${passwordId}-hint` : undefined,
    }),
    signup ? h("p.hint", { id: `${passwordId}-hint` }, "At least 10 characters.") : null,
    error,
    submit,
  );

  async function onSubmit(event) {
    event.preventDefault();
    error.hidden = true;
    submit.disabled = true;
    const credentials = { email: form.elements.email.value.trim(), password: form.elements.password.value };
    try {
      const result = await api.post(signup ? "/v1/auth/register" : "/v1/auth/login", credentials);
      form.reset();
      signedIn(result.access_token);
    } catch (failure) {
      error.textContent = humanMessage(failure, { login: !signup, register: signup });
      error.hidden = false;
      submit.disabled = false;
    }
  }

  main.append(
    h(
      "section.auth",
      {},
      h(
        "div.auth-card",
        {},
        h("div.auth-brand", {}, h("img", { src: "favicon.svg", alt: "", width: 40, height: 40 }), "Switchyard"),
        h("h1", { id: "auth-title" }, signup ? "Create your account" : "Log in"),
        h(
          "p.lede",
          {},
          "One chat for every AI provider. Bring your own API keys, or use the platform's access.",
        ),
        form,
        h(
          "p.auth-switch",
          {},
          signup ? "Already have an account? " : "New here? ",
          h("a", { href: signup ? "#/login" : "#/signup" }, signup ? "Log in" : "Create an account"),
        ),
      ),
    ),
  );
  form.elements.email.focus();
}
