// lanectl pages' login, shared by the lane console and the site page: the login form,
// the session check, log out, and a fetch that carries the session's CSRF token.
// A page loads this first and calls lanectlAuth.setup once its DOM is ready.
"use strict";

window.lanectlAuth = (() => {
  const $ = (id) => document.getElementById(id);
  let page = null;  // { view, state, onStart, onStop }

  function renderForm() {
    const section = $("login");
    if (section.childElementCount) return;
    const form = document.createElement("form");
    form.id = "login-form";
    const h2 = document.createElement("h2");
    h2.textContent = "Log in";
    const field = (label, id, attrs) => {
      const l = document.createElement("label");
      l.append(`${label} `);
      const input = document.createElement("input");
      input.id = id;
      input.required = true;
      for (const [k, v] of Object.entries(attrs)) input.setAttribute(k, v);
      l.append(input);
      return l;
    };
    const submit = document.createElement("button");
    submit.type = "submit";
    submit.id = "login-submit";
    submit.textContent = "Log in";
    const error = document.createElement("p");
    error.id = "login-error";
    error.className = "error";
    error.setAttribute("role", "alert");
    form.append(h2, field("User", "login-user", { name: "user", autocomplete: "username" }),
      field("Password", "login-password", { name: "password", type: "password",
        autocomplete: "current-password" }), submit, error);
    section.append(form);
  }

  async function api(path, body) {
    const opts = { credentials: "same-origin", headers: {} };
    if (body !== undefined) {
      const me = page ? page.state.me : null;
      opts.method = "POST";
      opts.headers["Content-Type"] = "application/json";
      opts.headers["X-CSRF-Token"] = me ? me.csrf : "";
      opts.body = JSON.stringify(body);
    }
    const resp = await fetch(path, opts);
    let data = {};
    try { data = await resp.json(); } catch (e) { data = {}; }
    return { status: resp.status, data };
  }

  function showLogin(message) {
    if (page.onStop) page.onStop();
    page.state.me = null;
    $(page.view).hidden = true;
    $("logout").hidden = true;
    $("login").hidden = false;
    $("who").textContent = "";
    $("login-error").textContent = message || "";
  }

  function start(me) {
    page.state.me = me;
    $("login").hidden = true;
    $(page.view).hidden = false;
    $("logout").hidden = false;
    $("who").textContent = `${me.user} (${me.role})`;
    page.onStart(me);
  }

  async function onLogin(ev) {
    ev.preventDefault();
    const r = await api("/api/login", { user: $("login-user").value,
      password: $("login-password").value });
    if (r.status === 200) { $("login-password").value = ""; start(r.data); return; }
    $("login-error").textContent = r.status === 429 ? "Too many failed logins: wait a minute."
      : (r.data.detail || "Login refused.");
  }

  // view: the id of the page's main element; state: where the page keeps `me`;
  // onStart(me) after a login or a live session; onStop() when the session ends.
  async function setup(options) {
    page = options;
    renderForm();
    $("login-form").addEventListener("submit", onLogin);
    $("logout").addEventListener("click", async () => {
      await api("/api/logout", {});
      showLogin("Logged out.");
    });
    const r = await api("/api/me");
    if (r.status === 200) start(r.data); else showLogin("");
  }

  return { api, setup, showLogin };
})();
