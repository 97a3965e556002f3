// The live journal: follows GET /_sim/ui/api/journal by position (the order entries were recorded),
// renders new entries a batch per animation frame (a full journal of 1,000 never blocks the page),
// and builds an entry's details only when it is first opened.

import { API, call } from "./api.js";
import { $, el, json, pairs, isoTime } from "./dom.js";

const BATCH = 150; // entries rendered per animation frame
const CATCH_UP_CALLS = 8; // feed answers read per poll while the journal has more

export function createJournal(meta) {
  const list = $("journal-list");
  const rows = []; // oldest first: { position, entry, node }
  const queue = []; // fetched, not yet rendered: { position, entry }
  const seen = { clients: new Set(), statuses: new Set() };
  let cursor = { position: 0, id: null };
  let oldest = 1;
  let feed = { count: 0, dropped: 0, capacity: meta.journal_capacity };
  let scheduled = false;
  const filters = { client: "", status: "", kind: "", error: "" };

  for (const kind of meta.kinds) $("filter-kind").append(el("option", { value: kind, text: kind }));
  for (const [id, key] of [["filter-client", "client"], ["filter-status", "status"], ["filter-kind", "kind"]]) {
    $(id).addEventListener("change", (event) => { filters[key] = event.target.value; refilter(); });
  }
  $("filter-error").addEventListener("input", (event) => { filters.error = event.target.value.trim().toLowerCase(); refilter(); });

  function matches(entry) {
    if (filters.client && (entry.client_id ?? "") !== filters.client) return false;
    if (filters.status && statusKey(entry) !== filters.status) return false;
    if (filters.kind && entry.kind !== filters.kind) return false;
    if (filters.error && !(entry.error_code ?? "").toLowerCase().includes(filters.error)) return false;
    return true;
  }

  function refilter() {
    for (const row of rows) row.node.hidden = !matches(row.entry);
    showCount();
  }

  function showCount() {
    const shown = rows.reduce((n, row) => n + (row.node.hidden ? 0 : 1), 0);
    const dropped = feed.dropped ? `; ${feed.dropped} older dropped` : "";
    $("journal-count").textContent =
      `Showing ${shown} of ${rows.length} entries (the journal keeps the newest ${feed.capacity}${dropped}).`;
    $("journal-empty").hidden = rows.length + queue.length > 0;
  }

  function remember(entry) {
    addOption(seen.clients, "filter-client", entry.client_id ?? "");
    addOption(seen.statuses, "filter-status", statusKey(entry));
  }

  function addOption(set, selectId, value) {
    if (!value || set.has(value)) return;
    set.add(value);
    const select = $(selectId);
    const options = [...select.options].slice(1);
    const before = options.find((option) => option.value.localeCompare(value, "en", { numeric: true }) > 0);
    select.insertBefore(el("option", { value, text: value }), before ?? null);
  }

  function render() {
    scheduled = false;
    const batch = queue.splice(0, BATCH).filter((item) => item.position >= oldest);
    const fragment = document.createDocumentFragment();
    for (const { position, entry } of batch) { // rows stays oldest first; the page shows the newest on top
      const node = entryNode(entry);
      node.hidden = !matches(entry);
      rows.push({ position, entry, node });
      remember(entry);
      fragment.prepend(node);
    }
    list.prepend(fragment);
    if (queue.length) schedule();
    showCount();
  }

  function schedule() {
    if (!scheduled) {
      scheduled = true;
      requestAnimationFrame(render);
    }
  }

  function dropOlderThan(position) {
    oldest = position;
    let cut = 0;
    while (cut < rows.length && rows[cut].position < position) rows[cut++].node.remove();
    if (cut) rows.splice(0, cut);
  }

  function clearAll() {
    rows.splice(0).forEach((row) => row.node.remove());
    queue.length = 0;
  }

  async function poll() {
    if ($("journal-pause").checked) return;
    for (let i = 0; i < CATCH_UP_CALLS; i += 1) {
      const query = new URLSearchParams({ after: String(cursor.position) });
      if (cursor.id !== null && cursor.id !== undefined) query.set("after_id", String(cursor.id));
      const answer = await call("GET", `${API}/journal?${query}`);
      if (answer.reset) clearAll();
      answer.entries.forEach((entry, index) => queue.push({ position: answer.first_position + index, entry }));
      cursor = { position: answer.position, id: answer.position_id };
      feed = answer;
      dropOlderThan(answer.oldest_position);
      if (queue.length) schedule();
      if (!answer.more) break;
    }
    showCount();
  }

  $("journal-clear").addEventListener("click", async () => {
    try {
      await call("DELETE", "/_sim/journal");
      await poll();
    } catch (error) {
      $("journal-count").textContent = `Could not clear the journal: ${error.message}`;
    }
  });

  showCount();
  return { poll };
}

function statusKey(entry) {
  if (entry.kind === "embed") return entry.status === null || entry.status === undefined ? "embed" : String(entry.status);
  return entry.status === null || entry.status === undefined ? "no answer" : String(entry.status);
}

function outcomeClass(entry) {
  if (entry.connection_fault) return "broken";
  if (entry.kind === "embed") return entry.embed && entry.embed.outcome === "ok" ? "good" : "bad";
  return entry.status >= 200 && entry.status < 300 ? "good" : "bad";
}

function answerText(entry) {
  if (entry.connection_fault) return `connection: ${entry.connection_fault}`;
  if (entry.kind === "embed" && entry.embed) {
    return [entry.embed.step, entry.embed.outcome].filter(Boolean).join(" · ");
  }
  return [entry.status, entry.error_code].filter((part) => part !== null && part !== undefined).join(" ");
}

function userDetailText(entry) {
  const calls = entry.user_detail_calls || [];
  if (!calls.length) return entry.partner_jwt ? "JWT" : "";
  const last = calls[calls.length - 1];
  const answer = last.status ?? (last.error ? "no answer" : "");
  return `${answer} · ${Math.round(last.elapsed_ms)} ms${calls.length > 1 ? ` (×${calls.length})` : ""}`;
}

function faultText(entry) {
  const ids = [entry.fault_id, ...(entry.user_detail_calls || []).map((call) => call.fault_id)];
  return [...new Set(ids.filter(Boolean))].join(", ");
}

/** A summary cell; the title shows what an ellipsis cuts off. */
function cell(name, text) {
  return el("span", { class: name, text, title: text || null });
}

function entryNode(entry) {
  const time = typeof entry.time === "string" && entry.time.length >= 23 ? entry.time.slice(11, 23) : "";
  const summary = el(
    "summary", {},
    el("span", { class: "id", text: entry.id }),
    el("span", { class: "time", text: time }),
    el("span", { class: "kind", text: entry.kind }),
    cell("client", entry.client_id ?? ""),
    cell("user", entry.email ?? ""),
    cell("user-detail", userDetailText(entry)),
    cell("fault", faultText(entry)),
    cell("answer", answerText(entry)),
    el("span", { class: "elapsed", text: Math.round(entry.elapsed_ms ?? 0) }),
  );
  const node = el("details", { class: "entry", dataset: { id: String(entry.id), outcome: outcomeClass(entry) } }, summary);
  node.addEventListener("toggle", () => {
    if (node.open && node.childElementCount === 1) node.append(detailNode(entry));
  });
  return node;
}

function detailNode(entry) {
  const detail = el("div", { class: "detail" });
  const form = Object.entries(entry.form || {}).map(([name, values]) => [name, [].concat(values).join(", ")]);
  const query = Object.entries(entry.query_fields || {}).map(([name, values]) => [`?${name}`, [].concat(values).join(", ")]);
  detail.append(
    el("h4", { text: "Request (secrets redacted)" }),
    pairs([["request", `${entry.method} ${entry.path}`], ["Content-Type", entry.content_type],
           ["arrived", entry.time], ...form, ...query]),
  );
  const calls = entry.user_detail_calls || [];
  if (calls.length) {
    detail.append(el("h4", { text: "User-detail calls" }));
    const table = el("table", {}, el("thead", {}, el("tr", {},
      ...["#", "URL", "status", "ms", "fault", "why refused"].map((name) => el("th", { scope: "col", text: name })))));
    const body = el("tbody");
    calls.forEach((call, index) => body.append(el("tr", {},
      ...[index + 1, call.url, call.status ?? "no answer", call.elapsed_ms, call.fault_id ?? "", call.error ?? ""]
        .map((value) => el("td", { text: value })))));
    table.append(body);
    detail.append(table);
    if (entry.user_detail_tls_verified === false) {
      detail.append(el("p", { class: "error", text: "TLS certificates were NOT verified (--user-detail-insecure)." }));
    }
  }
  if (entry.partner_jwt) detail.append(el("h4", { text: "Subject JWT checks (model B)" }), json(entry.partner_jwt));
  if (entry.embed) detail.append(el("h4", { text: "Embedded-app step" }), json(entry.embed));
  detail.append(
    el("h4", { text: "Answer" }),
    pairs([
      ["status", entry.status ?? (entry.connection_fault ? "none: the connection was broken" : null)],
      ["error code", entry.error_code], ["connection fault", entry.connection_fault],
      ["fault rule", entry.fault_id], ["Retry-After", entry.retry_after],
      ["debugIdentifier", entry.debug_identifier], ["email", entry.email], ["subject", entry.subject],
      ["jti", entry.jti], ["expires", entry.expires_at ? `${isoTime(entry.expires_at)} (${entry.expires_at})` : null],
      ["time spent", `${entry.elapsed_ms} ms`],
    ]),
  );
  return detail;
}
