// Clients and profiles, the simulator's clock, and its signing keys.

import { API, call } from "./api.js";
import { $, el, duration, isoTime, report } from "./dom.js";

const IDENTITY_NAMES = { "user-detail": "model A: user-detail API", jwt: "model B: partner-signed JWT" };

export function createClients(onClients) {
  async function refresh() {
    const { clients } = await call("GET", `${API}/clients`);
    $("client-rows").replaceChildren(...clients.map((client) => el("tr", {},
      el("td", { class: "mono", text: client.id }),
      el("td", { text: IDENTITY_NAMES[client.identity] || client.identity || "" }),
      el("td", { class: "mono", text: where(client) }),
      el("td", { class: "mono", text: client.secret }),
    )));
    onClients(clients.map((client) => client.id));
    const profiles = await call("GET", "/_sim/profiles");
    $("profiles-note").textContent = profiles.accepts_every_email
      ? "None configured: every email the identity check produces is accepted. Adding one turns the check on."
      : `${profiles.profiles.length} profile(s): an email must match one of them.`;
    $("profile-list").replaceChildren(...profiles.profiles.map((email) => el("li", { text: email })));
  }

  $("profile-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await call("POST", "/_sim/profiles", { email: $("profile-email").value.trim() });
      $("profile-email").value = "";
      report($("profile-error"), null);
    } catch (error) {
      report($("profile-error"), error);
    }
    await refresh().catch(() => {});
  });
  return { refresh };
}

function where(client) {
  if (client.identity === "jwt") return client.jwks_url ? `JWKS ${client.jwks_url}` : "JWKS";
  return client.user_detail_url || "embedded reference API";
}

export function createClock() {
  let known = null; // { now, offset, at }: the server's answer and when it came

  function show() {
    if (!known) return;
    const now = known.now + (performance.now() - known.at) / 1000;
    $("clock-now").textContent = isoTime(Math.floor(now));
    $("clock-offset").textContent = known.offset ? `(${duration(known.offset)} from real time)` : "(real time)";
  }

  async function refresh(answer) {
    const clock = answer || await call("GET", "/_sim/clock");
    known = { now: clock.now, offset: clock.offset, at: performance.now() };
    show();
  }

  async function move(body) {
    try {
      await refresh(await call("POST", "/_sim/clock", body));
      report($("clock-error"), null);
    } catch (error) {
      report($("clock-error"), error);
    }
  }

  $("clock-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const seconds = Number($("clock-amount").value) * Number($("clock-unit").value);
    if (!Number.isFinite(seconds) || seconds <= 0) {
      report($("clock-error"), new Error("give a positive amount of time to move forward"));
      return;
    }
    move({ advance: seconds });
  });
  $("clock-reset").addEventListener("click", () => move({ reset: true }));
  setInterval(show, 1000);
  return { refresh };
}

export function createKeys() {
  async function refresh() {
    const response = await fetch("/.well-known/jwks.json", { cache: "no-store", credentials: "omit" });
    const jwks = await response.json();
    $("key-list").replaceChildren(...jwks.keys.map((key, index) => el("li", {},
      el("span", { class: "mono", text: key.kid }),
      ` ${key.alg || ""} ${key.kty || ""}`,
      index === 0 ? el("strong", { text: " signs new tokens" }) : " still accepted",
    )));
    $("jwks").textContent = JSON.stringify(jwks, null, 2);
  }

  $("keys-rotate").addEventListener("click", async () => {
    try {
      await call("POST", "/_sim/keys/rotate");
      report($("keys-error"), null);
    } catch (error) {
      report($("keys-error"), error);
    }
    await refresh().catch(() => {});
  });
  return { refresh };
}
