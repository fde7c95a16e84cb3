// WebAuthn calls of the hub's pages (no inline script: the pages' CSP
// allows only scripts from the hub itself). A button with data-webauthn
// ("register" or "login") fetches options from data-begin, asks the browser
// for a credential and posts it to data-finish with data-token in the header
// data-token-header; the answer's "redirect" is followed.
"use strict";
(function () {
  function enc(buf) {
    const b = new Uint8Array(buf);
    let s = "";
    for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function dec(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    const bin = atob(s);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  async function call(url, headers, body) {
    const init = { method: "POST", credentials: "same-origin", headers: Object.assign({}, headers) };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const resp = await fetch(url, init);
    const out = await resp.json().catch(() => ({}));
    if (!resp.ok) throw new Error(out.message || ("HTTP " + resp.status));
    return out;
  }
  async function register(btn, hdr) {
    const opts = await call(btn.dataset.begin, hdr);
    const pk = opts.publicKey;
    pk.challenge = dec(pk.challenge);
    pk.user.id = dec(pk.user.id);
    (pk.excludeCredentials || []).forEach((c) => { c.id = dec(c.id); });
    const c = await navigator.credentials.create({ publicKey: pk });
    const name = document.getElementById("passkey-name");
    const url = btn.dataset.finish + "?name=" + encodeURIComponent(name ? name.value : "");
    return call(url, hdr, {
      id: c.id, rawId: enc(c.rawId), type: c.type,
      response: {
        attestationObject: enc(c.response.attestationObject),
        clientDataJSON: enc(c.response.clientDataJSON),
        transports: c.response.getTransports ? c.response.getTransports() : [],
      },
      clientExtensionResults: c.getClientExtensionResults(),
    });
  }
  async function login(btn, hdr) {
    const opts = await call(btn.dataset.begin, hdr);
    const pk = opts.publicKey;
    pk.challenge = dec(pk.challenge);
    (pk.allowCredentials || []).forEach((c) => { c.id = dec(c.id); });
    const c = await navigator.credentials.get({ publicKey: pk });
    const url = btn.dataset.finish + (btn.dataset.rd ? "?rd=" + encodeURIComponent(btn.dataset.rd) : "");
    return call(url, hdr, {
      id: c.id, rawId: enc(c.rawId), type: c.type,
      response: {
        authenticatorData: enc(c.response.authenticatorData),
        clientDataJSON: enc(c.response.clientDataJSON),
        signature: enc(c.response.signature),
        userHandle: c.response.userHandle ? enc(c.response.userHandle) : null,
      },
      clientExtensionResults: c.getClientExtensionResults(),
    });
  }
  document.querySelectorAll("[data-webauthn]").forEach((btn) => {
    btn.addEventListener("click", async (ev) => {
      ev.preventDefault();
      const status = document.getElementById("webauthn-status");
      const hdr = {};
      hdr[btn.dataset.tokenHeader] = btn.dataset.token;
      status.dataset.state = "working";
      try {
        const out = await (btn.dataset.webauthn === "register" ? register(btn, hdr) : login(btn, hdr));
        status.textContent = "Done.";
        status.dataset.state = "ok";
        if (out.redirect) location.assign(out.redirect);
      } catch (e) {
        status.textContent = String(e && e.message ? e.message : e);
        status.dataset.state = "error";
      }
    });
  });
})();
