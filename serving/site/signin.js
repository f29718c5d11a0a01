// Sign-in of "Mijn loopbaan" with OpenID Connect: authorisation code + PKCE (S256), state and nonce, the response
// in the address's fragment (the code never reaches the service's logs), the access token kept in this tab's
// sessionStorage only. The configuration (issuer, client id, audience, scope) comes from the service:
// <script src="signin.js" data-config="/auth/config"></script>.
//
//   loopbaanSignIn.ready          a promise: {signedIn, error} once a returning sign-in is handled
//   loopbaanSignIn.signIn()       go to the provider's sign-in page
//   loopbaanSignIn.accessToken()  the access token while it is valid, else null
//   loopbaanSignIn.signOut()      forget the token here and end the session at the provider too
//   loopbaanSignIn.onSignedIn(cb) cb(accessToken) now if signed in, and after each sign-in
"use strict";

(() => {
  const CONFIG_URL = document.currentScript?.dataset.config || "/auth/config";
  const PENDING = "loopbaan-signin-pending";
  const SESSION = "loopbaan-signin-session";
  const EXPIRY_MARGIN_S = 30;
  const listeners = [];
  let settingsPromise = null;

  class SignInError extends Error {
    constructor(code) { super(code); this.code = code; }
  }

  const base64url = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes)))
    .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  const randomString = () => base64url(crypto.getRandomValues(new Uint8Array(32)));
  const sha256 = (text) => crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));

  function readJson(storageKey) {
    try { return JSON.parse(sessionStorage.getItem(storageKey)); } catch { return null; }
  }

  async function getJson(url) {
    const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "omit" });
    if (!response.ok) throw new SignInError("config_unavailable");
    return response.json();
  }

  // The service's configuration and the issuer's discovery document, fetched once per page.
  function settings() {
    settingsPromise ??= (async () => {
      const config = await getJson(CONFIG_URL);
      const discovery = await getJson(`${config.issuer.replace(/\/$/, "")}/.well-known/openid-configuration`);
      if (discovery.issuer !== config.issuer) throw new SignInError("config_unavailable");
      const redirectUri = config.redirect_uri || new URL(".", location.href).href;  // the page's folder: /site/
      return { config, discovery, redirectUri };
    })();
    settingsPromise.catch(() => { settingsPromise = null; });
    return settingsPromise;
  }

  function claimsOf(jwt) {
    const part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(part), (c) => c.charCodeAt(0))));
  }

  function session() {
    const stored = readJson(SESSION);
    if (!stored || stored.expiresAt - EXPIRY_MARGIN_S <= Date.now() / 1000) return null;
    return stored;
  }

  function accessToken() {
    return session()?.accessToken ?? null;
  }

  function notify() {
    const token = accessToken();
    if (token) for (const listener of listeners) listener(token);
  }

  async function signIn() {
    const { config, discovery, redirectUri } = await settings();
    const pending = { state: randomString(), nonce: randomString(), verifier: randomString() };
    sessionStorage.setItem(PENDING, JSON.stringify(pending));
    const url = new URL(discovery.authorization_endpoint);
    url.search = new URLSearchParams({
      response_type: "code",
      response_mode: "fragment",
      client_id: config.client_id,
      redirect_uri: redirectUri,
      scope: config.scope,
      resource: config.audience,
      state: pending.state,
      nonce: pending.nonce,
      code_challenge: base64url(await sha256(pending.verifier)),
      code_challenge_method: "S256",
    }).toString();
    location.assign(url.toString());
  }

  // The provider's answer in the fragment: check state and issuer, exchange the code, check the ID token's nonce.
  async function completeSignIn() {
    const answer = new URLSearchParams(location.hash.slice(1));
    if (!answer.has("state") || !(answer.has("code") || answer.has("error"))) {
      return { signedIn: accessToken() !== null, error: null };
    }
    history.replaceState(null, "", `${location.pathname}${location.search}`);
    const pending = readJson(PENDING);
    sessionStorage.removeItem(PENDING);
    try {
      if (!pending || answer.get("state") !== pending.state) throw new SignInError("state_mismatch");
      if (answer.has("error")) throw new SignInError(answer.get("error"));
      const { config, discovery, redirectUri } = await settings();
      if (answer.has("iss") && answer.get("iss") !== config.issuer) throw new SignInError("wrong_issuer");
      const response = await fetch(discovery.token_endpoint, {
        method: "POST",
        credentials: "omit",
        headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
        body: new URLSearchParams({
          grant_type: "authorization_code",
          code: answer.get("code"),
          redirect_uri: redirectUri,
          client_id: config.client_id,
          code_verifier: pending.verifier,
          resource: config.audience,
        }),
      });
      if (!response.ok) throw new SignInError("exchange_failed");
      const tokens = await response.json();
      const idToken = claimsOf(tokens.id_token);
      const audiences = [].concat(idToken.aud);
      if (idToken.nonce !== pending.nonce || idToken.iss !== config.issuer || !audiences.includes(config.client_id)) {
        throw new SignInError("id_token_mismatch");
      }
      sessionStorage.setItem(SESSION, JSON.stringify({
        accessToken: tokens.access_token,
        idToken: tokens.id_token,
        expiresAt: Math.floor(Date.now() / 1000) + Number(tokens.expires_in),
      }));
    } catch (error) {
      return { signedIn: false, error: error instanceof SignInError ? error.code : "exchange_failed" };
    }
    notify();
    return { signedIn: true, error: null };
  }

  async function signOut() {
    const stored = readJson(SESSION);
    sessionStorage.removeItem(SESSION);
    if (!stored?.idToken) return;
    const { config, discovery, redirectUri } = await settings();
    if (!discovery.end_session_endpoint) return;
    const url = new URL(discovery.end_session_endpoint);
    url.search = new URLSearchParams({
      id_token_hint: stored.idToken, post_logout_redirect_uri: redirectUri, client_id: config.client_id,
    }).toString();
    location.assign(url.toString());
  }

  function onSignedIn(callback) {
    listeners.push(callback);
    const token = accessToken();
    if (token) queueMicrotask(() => callback(token));
  }

  window.loopbaanSignIn = Object.freeze({ ready: completeSignIn(), signIn, accessToken, signOut, onSignedIn });
})();
