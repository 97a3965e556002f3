// The partner page's half of Spotnana's embed handshake. Copy this.
//
// This script is loaded in <head>, before the iframe exists, so its listener is in place before the
// iframe can post TOKEN_EXCHANGE_REQUEST.
"use strict";
(function () {
  let requests = 0;

  function status(text) {
    const element = document.getElementById("partner-status");
    if (element) element.textContent = text; // textContent: messages from other windows are never HTML
  }

  async function fetchTokens(fresh) {
    // Our own backend does the exchange: the client secret never reaches the browser.
    const response = await fetch("/api/spotnana-tokens", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ fresh: fresh })
    });
    if (!response.ok) throw new Error("backend answered " + response.status);
    return response.json();
  }

  window.addEventListener("message", async function (event) {
    const iframe = document.getElementById("spotnana-embed");
    if (!iframe) return;
    const embedOrigin = new URL(iframe.src).origin;
    // Accept messages from the Spotnana iframe only: its origin and its window.
    if (event.origin !== embedOrigin || event.source !== iframe.contentWindow) return;
    const data = event.data;
    if (!data || typeof data !== "object" || data.from !== "spotnana-embed") return;

    if (data.type === "TOKEN_EXCHANGE_REQUEST") {
      requests += 1;
      let tokens;
      try {
        // A second request in the same page means the tokens expired or were refused: get fresh ones.
        tokens = await fetchTokens(requests > 1);
      } catch (error) {
        status("Could not get Spotnana tokens: " + error.message);
        return;
      }
      // Exactly the documented shape, camelCase, addressed to the embed's origin only (never "*":
      // the tokens are credentials).
      iframe.contentWindow.postMessage(
        { type: "TOKEN_EXCHANGE_RESPONSE", payload: { accessToken: tokens.accessToken, refreshToken: tokens.refreshToken } },
        embedOrigin
      );
      status("");
    } else if (data.type === "TOKEN_EXCHANGE_ERROR") {
      const payload = data.payload || {};
      status("Spotnana refused the sign-in: " + String(payload.errorCode) + ": " + String(payload.errorMessage));
    }
  });
})();
