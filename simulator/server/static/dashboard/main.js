// The dashboard's start: ask the simulator who we are (the admin guard answers), then poll.
// Polling rather than server-sent events: EventSource cannot send the Authorization header.

import { API, AuthRequired, call, forgetToken, storeToken, storedToken } from "./api.js";
import { createChart } from "./chart.js";
import { $ } from "./dom.js";
import { createFaults } from "./faults.js";
import { createJournal } from "./journal.js";
import { createClients, createClock, createKeys } from "./panels.js";
import { createScenarios } from "./scenarios.js";

const PERIODS = { journal: 1000, faults: 2000, chart: 5000, clock: 10000 };
let stopped = false;
let panels = null;
let generation = 0; // bumped on each start, so loops of an earlier start end

function showLogin(why) {
  stopped = true;
  $("main").hidden = true;
  $("login").hidden = false;
  $("login-why").textContent = why || "The simulator's admin API needs its admin token.";
  $("connection").textContent = "locked";
  $("connection").dataset.state = "down";
  $("admin-token").focus();
}

function connection(ok, text) {
  $("connection").textContent = text;
  $("connection").dataset.state = ok ? "live" : "down";
}

/** Run ``task`` every ``period`` ms after it finishes; a refusal of the token stops everything. */
function every(period, task) {
  const round = generation;
  const tick = async () => {
    if (stopped || round !== generation) return;
    try {
      await task();
      connection(true, "live");
    } catch (error) {
      if (error instanceof AuthRequired) {
        showLogin(error.message);
        return;
      }
      connection(false, error instanceof TypeError ? "cannot reach the simulator; retrying" : error.message);
    }
    setTimeout(tick, period);
  };
  tick();
}

async function start() {
  let meta;
  try {
    meta = await call("GET", `${API}/meta`);
  } catch (error) {
    if (error instanceof AuthRequired) {
      showLogin(error.message);
      return;
    }
    connection(false, `the dashboard cannot start: ${error.message}`);
    return;
  }
  stopped = false;
  generation += 1;
  $("login").hidden = true;
  $("main").hidden = false;
  $("forget-token").hidden = !storedToken();
  $("server-url").textContent = meta.base_url;

  panels = panels || createPanels(meta);
  every(PERIODS.journal, panels.journal.poll);
  every(PERIODS.faults, panels.faults.refresh);
  every(PERIODS.chart, panels.chart.refresh);
  every(PERIODS.clock, panels.clock.refresh);
  await Promise.all([panels.clients.refresh(), panels.keys.refresh(), panels.scenarios.load()]).catch((error) => {
    if (error instanceof AuthRequired) showLogin(error.message);
    else connection(false, error.message);
  });
}

/** Each panel once, however often the token is asked for again. */
function createPanels(meta) {
  const faults = createFaults(meta);
  return {
    journal: createJournal(meta),
    faults,
    clients: createClients((ids) => faults.setClients(ids)),
    clock: createClock(),
    keys: createKeys(),
    chart: createChart(),
    scenarios: createScenarios(),
  };
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  storeToken($("admin-token").value);
  $("admin-token").value = "";
  $("login-error").textContent = "";
  try {
    await call("GET", `${API}/meta`);
  } catch (error) {
    forgetToken();
    $("login-error").textContent = `Refused: ${error.message}`;
    return;
  }
  start();
});

$("forget-token").addEventListener("click", () => {
  forgetToken();
  window.location.reload();
});

start();
