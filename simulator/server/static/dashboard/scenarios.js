// Scenarios: run a shipped one against this simulator and watch each step pass or fail.

import { API, call } from "./api.js";
import { $, el, report } from "./dom.js";

const POLL_MS = 400;

export function createScenarios() {
  let catalogue = [];
  let shownRun = null;

  function describe() {
    const chosen = catalogue.find((item) => item.name === $("scenario-name").value);
    $("scenario-description").textContent = chosen
      ? `${chosen.description} (${chosen.steps} step${chosen.steps === 1 ? "" : "s"}, ${chosen.source || "?"})`
        + (chosen.runnable ? "" : ` Not runnable here: ${chosen.why}`)
      : "";
    $("scenario-run").disabled = !chosen || !chosen.runnable;
  }

  function showRun(run) {
    shownRun = run;
    if (!run) return;
    const outcome = $("scenario-outcome");
    outcome.dataset.outcome = run.outcome || "running";
    outcome.textContent = run.state === "running"
      ? `Running ${run.name}…`
      : `${run.name}: ${run.outcome}${run.why ? `: ${run.why}` : ""}`;
    $("scenario-steps").replaceChildren(...run.steps.map((step) => el("li", { dataset: { outcome: step.outcome } },
      el("span", { class: "verdict", text: step.outcome === "passed" ? "passed" : "FAILED" }),
      ` ${step.name}`,
      step.journal_ids && step.journal_ids.length ? el("span", { class: "muted", text: ` (journal #${step.journal_ids.join(", #")})` }) : null,
      ...(step.problems || []).map((problem) => el("div", { class: "error", text: problem })),
    )));
  }

  async function follow() {
    while (shownRun && shownRun.state === "running") {
      await new Promise((resolve) => { setTimeout(resolve, POLL_MS); });
      showRun((await call("GET", `${API}/scenarios/run`)).run);
    }
    $("scenario-run").disabled = false;
  }

  async function load() {
    const answer = await call("GET", `${API}/scenarios`);
    if (!answer.available) {
      $("scenario-description").textContent = `Scenarios cannot be run here: ${answer.why}.`;
      $("scenario-run").disabled = true;
      $("scenario-name").disabled = true;
      return;
    }
    catalogue = answer.scenarios;
    $("scenario-name").replaceChildren(...catalogue.map((item) => el("option", {
      value: item.name, text: item.runnable ? item.name : `${item.name} (in-process only)`,
    })));
    describe();
    showRun(answer.run);
    if (answer.run && answer.run.state === "running") follow().catch((error) => report($("scenario-outcome"), error));
  }

  $("scenario-name").addEventListener("change", describe);
  $("scenario-run").addEventListener("click", async () => {
    $("scenario-run").disabled = true;
    try {
      showRun((await call("POST", `${API}/scenarios/run`, { name: $("scenario-name").value })).run);
      await follow();
    } catch (error) {
      report($("scenario-outcome"), error);
      describe();
    }
  });
  return { load };
}
