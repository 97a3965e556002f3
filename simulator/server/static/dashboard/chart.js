// The last 5 minutes as SVG drawn here (no charting library): stacked bars of exchanges per second by
// outcome, and the user-detail calls' p50 and p99 latency. Data: GET /_sim/ui/api/stats.

import { API, call } from "./api.js";
import { $, el, svg } from "./dom.js";

const WIDTH = 640;
const LEFT = 40;
const RIGHT = 8;
const PALETTE = ["#c62828", "#ef6c00", "#f9a825", "#1565c0", "#00838f", "#ad1457", "#6d4c41", "#5e35b1", "#558b2f", "#37474f"];

export function colorOf(outcome) {
  if (outcome === "success") return "#2e7d32";
  if (outcome.startsWith("connection:")) return "#7b1fa2";
  let hash = 0;
  for (const char of outcome) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  return PALETTE[hash % PALETTE.length];
}

function niceCeiling(value) {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 5, 10].map((step) => step * power).find((nice) => nice >= value);
}

function frame(height, top, yMax, unit, window) {
  const plotHeight = height - top - 16;
  const root = svg("svg", { viewBox: `0 0 ${WIDTH} ${height}`, role: "img" });
  for (const fraction of [0, 0.5, 1]) {
    const y = top + plotHeight * (1 - fraction);
    root.append(
      svg("line", { class: "grid", x1: LEFT, x2: WIDTH - RIGHT, y1: y, y2: y }),
      svg("text", { x: LEFT - 4, y: y + 3, "text-anchor": "end", text: `${+(yMax * fraction).toPrecision(3)}${fraction === 1 ? unit : ""}` }),
    );
  }
  const minutes = Math.round(window / 60);
  for (let m = 0; m <= minutes; m += 1) {
    const x = LEFT + ((WIDTH - LEFT - RIGHT) * m) / minutes;
    root.append(svg("text", { x, y: height - 3, "text-anchor": m === 0 ? "start" : m === minutes ? "end" : "middle",
                              text: m === minutes ? "now" : `-${minutes - m} min` }));
  }
  return { root, plotHeight };
}

function drawRates(stats) {
  const height = 150;
  const top = 8;
  const perSecond = stats.buckets.map((bucket) => Object.values(bucket.counts).reduce((a, b) => a + b, 0) / stats.bucket);
  const yMax = niceCeiling(Math.max(0, ...perSecond));
  const { root, plotHeight } = frame(height, top, yMax, "/s", stats.window);
  const slot = (WIDTH - LEFT - RIGHT) / stats.buckets.length;
  const total = Object.values(stats.totals).reduce((a, b) => a + b, 0);
  root.setAttribute("aria-label", `Exchanges per second over the last ${stats.window / 60} minutes: ${total} in all`
    + (total ? `, ${stats.outcomes.map((name) => `${stats.totals[name]} ${name}`).join(", ")}` : ""));
  stats.buckets.forEach((bucket, index) => {
    let base = top + plotHeight;
    for (const outcome of stats.outcomes) {
      const count = bucket.counts[outcome] || 0;
      if (!count) continue;
      const barHeight = (count / stats.bucket / yMax) * plotHeight;
      base -= barHeight;
      root.append(svg("rect", { x: LEFT + index * slot + 0.5, y: base, width: Math.max(slot - 1, 1), height: barHeight,
                                fill: colorOf(outcome), "data-outcome": outcome },
                      svg("title", { text: `${count} ${outcome} in ${stats.bucket} s` })));
    }
  });
  $("rate-chart").replaceChildren(root);
  $("chart-legend").replaceChildren(...(stats.outcomes.length ? stats.outcomes : []).map((name) => el("li", {},
    el("span", { class: "swatch", dataset: { outcome: name } }), `${name}: ${stats.totals[name]}`)));
  for (const swatch of $("chart-legend").querySelectorAll(".swatch")) swatch.style.background = colorOf(swatch.dataset.outcome);
  if (!stats.outcomes.length) $("chart-legend").append(el("li", { class: "muted", text: "no exchange in the last 5 minutes" }));
}

function drawLatency(stats) {
  const height = 110;
  const top = 18;
  const values = stats.buckets.flatMap((bucket) => [bucket.p50, bucket.p99]).filter((v) => v !== null);
  const yMax = niceCeiling(Math.max(0, ...values));
  const { root, plotHeight } = frame(height, top, yMax, " ms", stats.window);
  const slot = (WIDTH - LEFT - RIGHT) / stats.buckets.length;
  const latency = stats.latency;
  const fmt = (value) => (value === null ? "–" : `${Math.round(value)} ms`);
  root.setAttribute("aria-label", `User-detail latency over the last ${stats.window / 60} minutes: `
    + `p50 ${fmt(latency.p50)}, p99 ${fmt(latency.p99)} over ${latency.calls} calls`);
  root.append(svg("text", { x: LEFT, y: 11, text: `user-detail latency  p50 ${fmt(latency.p50)}  p99 ${fmt(latency.p99)}  (${latency.calls} calls)` }));
  for (const key of ["p50", "p99"]) {
    let run = [];
    const flush = () => {
      if (run.length > 1) root.append(svg("polyline", { class: key, points: run.join(" ") }));
      if (run.length === 1) {
        const [x, y] = run[0].split(",");
        root.append(svg("circle", { class: key, cx: x, cy: y, r: 2 }));
      }
      run = [];
    };
    stats.buckets.forEach((bucket, index) => {
      const value = bucket[key];
      if (value === null) { flush(); return; }
      run.push(`${(LEFT + (index + 0.5) * slot).toFixed(1)},${(top + plotHeight * (1 - value / yMax)).toFixed(1)}`);
    });
    flush();
  }
  $("latency-chart").replaceChildren(root);
}

export function createChart() {
  async function refresh() {
    const stats = await call("GET", `${API}/stats`);
    drawRates(stats);
    drawLatency(stats);
  }
  return { refresh };
}
