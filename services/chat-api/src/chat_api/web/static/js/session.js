// The session token lives in sessionStorage (this tab only, gone when it closes). Provider keys
// are never stored anywhere: the key form sends them once and forgets them.

const TOKEN_KEY = "switchyard.session";

export const session = {
  get token() {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  set token(value) {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  },
  /** The signed-in user and their orgs (GET /v1/me), loaded after login. */
  me: null,
  /** The catalog (GET /v1/models), loaded once per session. */
  models: null,
};
