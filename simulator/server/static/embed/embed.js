// The stand-in for Spotnana's embedded app (spotnana-sim). Protocol as Spotnana documents it:
//   iframe -> parent  {"type":"TOKEN_EXCHANGE_REQUEST","from":"spotnana-embed"}
//   parent -> iframe  {"type":"TOKEN_EXCHANGE_RESPONSE","payload":{"accessToken":"…","refreshToken":"…"}}
//   iframe -> parent  {"from":"spotnana-embed","type":"TOKEN_EXCHANGE_ERROR","payload":{"errorCode":"INVALID_TOKEN","errorMessage":"…"}}
// The page decides nothing about a message's content: the simulator judges it (/_embed/handshake).
// The parent page is untrusted: everything shown goes through textContent, never HTML.
// Hooks for partners' own browser tests: <body data-state="waiting|signed-in|error|timeout">, #email, #org, #message.
"use strict";
(function () {
  const config = JSON.parse(document.getElementById("embed-config").textContent);
  const P = config.protocol;
  const MAX_MESSAGE_CHARS = 60000;
  let state = "waiting";
  let handshakeTimer = null;
  let statusTimer = null;
  let accessToken = null;
  let answerOrigin = null;
  let renewal = false;
  let busy = 0;
  let queue = Promise.resolve();
  let reports = 0;
  const refusedOrigins = [];

  function setState(next) {
    state = next;
    document.body.dataset.state = next;
  }

  function show(id, text) {
    document.getElementById(id).textContent = text;
  }

  function log(line) {
    const item = document.createElement("li");
    item.textContent = new Date().toISOString().slice(11, 23) + " " + line;
    document.getElementById("log").appendChild(item);
  }

  function report(step, fields) {
    if (step === "message_rejected" || step === "message_ignored") {
      reports += 1;
      if (reports > config.maxIgnoredReports) return; // a chatty parent must not flood the journal
    }
    const body = Object.assign({ page: config.page, step: step }, fields || {});
    fetch(config.api.events, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body), keepalive: true
    }).catch(function () {});
  }

  async function call(path, body) {
    const response = await fetch(path, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body)
    });
    let json = null;
    try { json = await response.json(); } catch (e) { json = null; }
    return { status: response.status, json: json };
  }

  function firstError(json) {
    const entry = json && Array.isArray(json.errorMessages) ? json.errorMessages[0] : null;
    if (!entry || typeof entry !== "object") {
      return { code: P.errorCode, message: "the simulator gave no reason", reason: null };
    }
    const params = Array.isArray(entry.errorParameters) ? entry.errorParameters : [];
    const reason = params.find(function (p) { return p && p.name === "reason"; });
    return {
      code: typeof entry.errorCode === "string" && /^[A-Z_]{1,64}$/.test(entry.errorCode) ? entry.errorCode : P.errorCode,
      message: typeof entry.message === "string" ? entry.message : "the simulator gave no reason",
      reason: reason ? reason.value : null
    };
  }

  function typeOf(data) {
    if (data && typeof data === "object" && typeof data.type === "string") return data.type.slice(0, 80);
    return data === null ? "null" : Array.isArray(data) ? "array" : typeof data;
  }

  function looksLikeAnswer(data) {
    if (typeof data === "string") return data.indexOf("TOKEN_EXCHANGE_RESPONSE") >= 0;
    if (!data || typeof data !== "object") return false;
    return "payload" in data || (typeof data.type === "string" && data.type.toUpperCase().indexOf("RESPONSE") >= 0);
  }

  function requestTokens() {
    setState("waiting");
    show("status", renewal ? "The token expired: asking the parent page for new tokens…"
                           : "Waiting for TOKEN_EXCHANGE_RESPONSE from the parent page…");
    const message = { type: P.request, from: P.from };
    // Modeled: the request carries nothing secret, so by default it goes to any parent ("*"); the
    // answer is what is checked against the allowed origins.
    const targets = config.requestTarget === "allowed-origins" ? config.allowedOrigins : ["*"];
    for (let i = 0; i < config.requestCount; i++) {
      targets.forEach(function (target) { window.parent.postMessage(message, target); });
    }
    log((renewal ? "renewal: " : "") + "sent TOKEN_EXCHANGE_REQUEST" + (config.requestCount > 1 ? " ×" + config.requestCount : ""));
    report("request_sent", { renewal: renewal, count: config.requestCount, target: config.requestTarget });
    clearTimeout(handshakeTimer);
    handshakeTimer = setTimeout(onTimeout, config.handshakeTimeoutMs);
  }

  function onTimeout() {
    if (state !== "waiting") return;
    if (busy > 0) { // an answer that arrived in time is still being checked
      handshakeTimer = setTimeout(onTimeout, 100);
      return;
    }
    const seconds = config.handshakeTimeoutMs / 1000;
    let text = "No TOKEN_EXCHANGE_RESPONSE within " + seconds + " s. The parent page must listen for message " +
      "events whose data.type is TOKEN_EXCHANGE_REQUEST and answer with iframe.contentWindow.postMessage(" +
      "{type: \"TOKEN_EXCHANGE_RESPONSE\", payload: {accessToken, refreshToken}}, embedOrigin).";
    if (refusedOrigins.length) {
      text += " Messages from origins that are not allowed were ignored: " + refusedOrigins.join(", ") + ".";
    }
    setState("timeout");
    show("status", "Timed out");
    show("message", text);
    log("timed out after " + seconds + " s");
    report("timeout", { seconds: seconds, message: text });
  }

  function fail(code, text, origin) {
    clearTimeout(handshakeTimer);
    clearInterval(statusTimer);
    setState("error");
    show("status", "Sign-in failed");
    show("message", text);
    log("error: " + text);
    if (origin) {
      const message = { from: P.from, type: P.error, payload: { errorCode: code, errorMessage: text } };
      window.parent.postMessage(message, origin);
      report("error_posted", { origin: origin, errorCode: code, message: text });
    }
  }

  function signedIn(info, origin, token) {
    clearTimeout(handshakeTimer);
    accessToken = token;
    answerOrigin = origin;
    // Modeled: the app keeps its token for this tab only, which is why it clears sessionStorage on load.
    try { sessionStorage.setItem("spotnana-embed.accessToken", token); } catch (e) { /* storage may be blocked */ }
    setState("signed-in");
    show("status", "Signed in");
    show("email", info.email);
    show("org", info.orgId);
    show("message", "");
    document.getElementById("profile").hidden = false;
    log("signed in as " + info.email);
    clearInterval(statusTimer);
    statusTimer = setInterval(checkStatus, config.tokenCheckIntervalMs);
  }

  // Renewal (modeled): the simulator's clock decides expiry, so tests move it instead of waiting.
  async function checkStatus() {
    if (state !== "signed-in") return;
    let result;
    try {
      result = await call(config.api.tokenStatus, { page: config.page, accessToken: accessToken });
    } catch (e) {
      return; // the simulator is unreachable for a moment: ask again next time
    }
    if (state !== "signed-in" || result.status === 200 || result.status >= 500) return;
    clearInterval(statusTimer);
    const error = firstError(result.json);
    if (error.reason === "expired") {
      renewal = true;
      log("the token expired");
      requestTokens();
    } else {
      fail(error.code, error.message, answerOrigin);
    }
  }

  async function handle(origin, data) {
    if (state !== "waiting") {
      if (looksLikeAnswer(data)) {
        report(state === "timeout" ? "late_response" : "message_ignored", { origin: origin, state: state, type: typeOf(data) });
        log("ignored a message (" + typeOf(data) + ") while " + state);
      }
      return;
    }
    let text = null;
    try { text = JSON.stringify(data === undefined ? null : data); } catch (e) { text = null; }
    if (typeof text !== "string") {
      if (looksLikeAnswer(data)) fail(P.errorCode, "the message cannot be read as JSON: post a plain object", origin);
      return;
    }
    if (text.length > MAX_MESSAGE_CHARS) {
      fail(P.errorCode, "the message is " + text.length + " characters of JSON; an answer with two tokens is a few thousand", origin);
      return;
    }
    busy += 1;
    let result;
    try {
      result = await call(config.api.handshake, { page: config.page, origin: origin, message: data, renewal: renewal });
    } catch (e) {
      busy -= 1;
      setState("error");
      show("status", "Sign-in failed");
      show("message", "could not reach the simulator to check the token");
      return;
    }
    busy -= 1;
    if (result.status === 200 && result.json && result.json.outcome === "ignored") return;
    if (state !== "waiting") return;
    if (result.status === 200 && result.json && result.json.outcome === "signed-in") {
      signedIn(result.json, origin, data.payload.accessToken);
      return;
    }
    const error = firstError(result.json);
    fail(error.code, error.message, origin);
  }

  function onMessage(event) {
    if (event.source === window) return; // the page's own messages are never answers
    const origin = event.origin;
    if (config.allowedOrigins.indexOf(origin) < 0) {
      if (refusedOrigins.indexOf(origin) < 0 && refusedOrigins.length < 5) refusedOrigins.push(origin);
      log("ignored a message from " + origin + ": origin not allowed");
      report("message_rejected", { origin: origin, reason: "origin not allowed", type: typeOf(event.data) });
      return;
    }
    if (event.source !== window.parent) {
      report("message_rejected", { origin: origin, reason: "not from the parent window", type: typeOf(event.data) });
      return;
    }
    const data = event.data;
    queue = queue.then(function () { return handle(origin, data); }).catch(function () {});
  }

  function start() {
    try { sessionStorage.clear(); } catch (e) { /* storage may be blocked */ }
    if (config.problem) {
      setState("error");
      show("status", "Cannot sign in");
      show("message", config.problem);
      return;
    }
    if (window.parent === window) {
      setState("error");
      show("status", "Cannot sign in");
      show("message", "This page must be opened in an iframe of the partner's page.");
      report("not_framed", {});
      return;
    }
    show("org", config.orgId);
    if (config.requestDelayMs > 0) setTimeout(requestTokens, config.requestDelayMs);
    else requestTokens();
  }

  window.addEventListener("message", onMessage);
  if (document.readyState === "complete") start();
  else window.addEventListener("load", start);
})();
