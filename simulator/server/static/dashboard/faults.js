// Faults: the armed rules with their counters, and a form that builds the same JSON as POST /_sim/faults
// (shown as it is built), then posts it. Rule validation stays on the server, which names the key at fault.

import { call } from "./api.js";
import { $, el, report } from "./dom.js";

const TOKEN_EFFECTS = [
  ["response", "an HTTP answer"], ["connection", "a broken connection"], ["expires_in", "tokens with this lifetime"],
  ["expired", "tokens already expired"], ["delay", "a slow answer only"],
];
const USER_DETAIL_LABELS = {
  timeout: "times out", unreachable: "cannot be reached", no_email: "answers with no email",
  not_json: "answers something not JSON", html_error: "answers an HTML error page", oversized: "answers an oversized body",
  email: "answers another email", redirect: "answers a redirect", response: "answers this status", delay: "is slow only",
};
const PRESETS = {
  "503": { target: "token-endpoint", effect: "response", status: 503, errorCode: "SERVICE_UNAVAILABLE", times: 1 },
  "429": { target: "token-endpoint", effect: "response", status: 429, errorCode: "TOO_MANY_REQUESTS", retryAfter: "2", times: 1 },
  reset: { target: "token-endpoint", effect: "connection", connection: "reset", times: 1 },
  "ud-timeout": { target: "user-detail", effect: "timeout", times: 3 },
  "ud-401": { target: "user-detail", effect: "response", status: 401, times: 1 },
};

export function createFaults(meta) {
  const form = $("fault-form");
  const userDetailEffects = [...meta.user_detail_words, ...meta.user_detail_objects, "response", "delay"]
    .filter((value, index, all) => all.indexOf(value) === index)
    .map((value) => [value, USER_DETAIL_LABELS[value] || value]);

  for (const target of meta.targets) $("fault-target").append(el("option", { value: target, text: target }));
  for (const kind of meta.connection_faults) $("fault-connection").append(el("option", { value: kind, text: kind }));
  for (const code of meta.error_codes) $("error-codes").append(el("option", { value: code }));

  function effects() {
    return $("fault-target").value === "user-detail" ? userDetailEffects : TOKEN_EFFECTS;
  }

  function fillEffects(chosen) {
    const select = $("fault-effect");
    select.replaceChildren(...effects().map(([value, label]) => el("option", { value, text: label })));
    if (chosen) select.value = chosen;
  }

  function showFields() {
    const effect = $("fault-effect").value;
    const scoped = `${$("fault-target").value === "user-detail" ? "ud" : "token"}:${effect}`;
    for (const node of form.querySelectorAll("[data-for]")) {
      const keys = node.dataset.for.split(" ");
      node.hidden = !(keys.includes(effect) || keys.includes(scoped));
    }
  }

  function number(id) {
    const raw = $(id).value.trim();
    return raw === "" ? null : Number(raw);
  }

  /** The rule the form describes, exactly as it will be posted. */
  function rule() {
    const target = $("fault-target").value;
    const effect = $("fault-effect").value;
    const built = { target };
    const text = (id) => $(id).value.trim();
    if (text("fault-id")) built.id = text("fault-id");
    if (text("fault-description")) built.description = text("fault-description");
    if ($("fault-client").value) built.match = { client_id: $("fault-client").value };
    built.times = number("fault-times") ?? "always";
    if (number("fault-after")) built.after = number("fault-after");
    if (number("fault-probability") !== null) built.probability = number("fault-probability");
    if (number("fault-seed") !== null) built.seed = number("fault-seed");
    if (number("fault-delay") !== null) built.delay = number("fault-delay");
    if (target === "token-endpoint") {
      if (effect === "response") {
        built.response = { status: number("fault-status") };
        if (text("fault-error-code")) built.response.errorCode = text("fault-error-code");
        if (text("fault-retry-after")) built.response.headers = { "Retry-After": text("fault-retry-after") };
      } else if (effect === "connection") built.connection = $("fault-connection").value;
      else if (effect === "expires_in") built.expires_in = number("fault-expires-in");
      else if (effect === "expired") built.expired = true;
    } else if (effect === "response") {
      built.response = { status: number("fault-status") };
      const body = $("fault-body").value;
      if (body.trim()) {
        try { built.response.body = JSON.parse(body); } catch { built.response.body = body; }
      }
    } else if (effect === "email") built.user_detail = { email: text("fault-email") };
    else if (effect === "redirect") built.user_detail = { redirect: text("fault-redirect") };
    else if (effect === "html_error") {
      const status = number("fault-status");
      built.user_detail = status === null || status === 500 ? "html_error" : { html_error: status };
    } else if (effect !== "delay") built.user_detail = effect;
    return built;
  }

  function preview() {
    $("fault-json").textContent = JSON.stringify(rule(), null, 1).replace(/\n\s*/g, " ");
  }

  function applyPreset(name) {
    const preset = PRESETS[name];
    form.reset();
    $("fault-target").value = preset.target;
    fillEffects(preset.effect);
    if (preset.status !== undefined) $("fault-status").value = String(preset.status);
    $("fault-error-code").value = preset.errorCode ?? "";
    $("fault-retry-after").value = preset.retryAfter ?? "";
    if (preset.connection) $("fault-connection").value = preset.connection;
    $("fault-times").value = String(preset.times);
    showFields();
    preview();
    $("fault-arm").focus();
  }

  async function refresh() {
    const { faults } = await call("GET", "/_sim/faults");
    $("fault-rows").replaceChildren(...faults.map((armed) => el("tr", { dataset: { rule: armed.id } },
      el("td", { class: "mono", text: armed.id }),
      el("td", { text: armed.target }),
      el("td", { text: describe(armed) }),
      el("td", { class: "fired", text: armed.fired }),
      el("td", { text: armed.remaining ?? "always" }),
      el("td", {}, el("button", { type: "button", "aria-label": `Disarm rule ${armed.id}`, text: "Disarm",
                                  onclick: () => act(() => call("DELETE", `/_sim/faults/${encodeURIComponent(armed.id)}`)) })),
    )));
    $("faults-empty").hidden = faults.length > 0;
    $("faults-disarm-all").disabled = faults.length === 0;
  }

  async function act(action) {
    try {
      await action();
      report($("faults-error"), null);
    } catch (error) {
      report($("faults-error"), error);
    }
    await refresh().catch(() => {});
  }

  $("fault-target").addEventListener("change", () => { fillEffects(); showFields(); preview(); });
  $("fault-effect").addEventListener("change", () => { showFields(); preview(); });
  form.addEventListener("input", preview);
  form.addEventListener("change", preview);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await call("POST", "/_sim/faults", rule());
      report($("fault-error"), null);
    } catch (error) {
      report($("fault-error"), error);
    }
    await refresh().catch(() => {});
  });
  $("faults-disarm-all").addEventListener("click", () => act(() => call("DELETE", "/_sim/faults")));
  for (const button of document.querySelectorAll("[data-preset]")) {
    button.addEventListener("click", () => applyPreset(button.dataset.preset));
  }

  fillEffects();
  showFields();
  preview();
  return {
    refresh,
    setClients(ids) {
      const select = $("fault-client");
      const chosen = select.value;
      select.replaceChildren(el("option", { value: "", text: "any" }), ...ids.map((id) => el("option", { value: id, text: id })));
      select.value = ids.includes(chosen) ? chosen : "";
    },
  };
}

/** One line saying what an armed rule does. */
function describe(armed) {
  const parts = [];
  if (armed.response) parts.push(`answers ${armed.response.status}${armed.response.errorCode ? ` ${armed.response.errorCode}` : ""}`);
  if (armed.connection) parts.push(`connection ${armed.connection}`);
  if (armed.user_detail !== undefined) {
    parts.push(typeof armed.user_detail === "string" ? armed.user_detail : JSON.stringify(armed.user_detail));
  }
  if (armed.expires_in !== undefined) parts.push(`expires_in ${armed.expires_in}`);
  if (armed.expired) parts.push("expired tokens");
  if (armed.delay !== undefined) parts.push(`delay ${JSON.stringify(armed.delay)}`);
  if (armed.match && Object.keys(armed.match).length) parts.push(`if ${JSON.stringify(armed.match)}`);
  if (armed.after) parts.push(`after ${armed.after}`);
  if (armed.probability !== undefined && armed.probability < 1) parts.push(`p=${armed.probability}`);
  if (armed.description) parts.push(`(${armed.description})`);
  return parts.join(", ") || "nothing (passes through)";
}
