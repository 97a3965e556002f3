// Building the page from data: every value goes in as text (textContent / text nodes), never as HTML.

export const $ = (id) => document.getElementById(id);

/** An element; attrs: class, text, on<event>, dataset, or plain attributes. Children: nodes or strings. */
export function el(tag, attrs = {}, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

export function svg(tag, attrs = {}, ...children) {
  return fill(document.createElementNS("http://www.w3.org/2000/svg", tag), attrs, children);
}

function fill(node, attrs, children) {
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.setAttribute("class", value);
    else if (name === "text") node.textContent = String(value);
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** A definition list of the pairs whose value is present. */
export function pairs(rows) {
  const list = el("dl");
  for (const [name, value] of rows) {
    if (value === null || value === undefined || value === "") continue;
    list.append(el("dt", { text: name }), el("dd", { text: value }));
  }
  return list;
}

export function json(value) {
  return el("pre", { class: "json", text: JSON.stringify(value, null, 2) });
}

/** Show a failure in a panel's alert line; clear it with no error. */
export function report(target, error) {
  target.textContent = error ? error.message || String(error) : "";
}

export function isoTime(seconds) {
  const date = new Date(seconds * 1000);
  return Number.isNaN(date.getTime()) ? String(seconds) : date.toISOString().replace(".000Z", "Z");
}

export function duration(seconds) {
  const sign = seconds < 0 ? "-" : "+";
  let rest = Math.round(Math.abs(seconds));
  const parts = [];
  for (const [unit, size] of [["d", 86400], ["h", 3600], ["m", 60], ["s", 1]]) {
    if (rest >= size || (unit === "s" && parts.length === 0)) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return sign + parts.join(" ");
}
