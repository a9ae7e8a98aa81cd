/* Site-wide set-up for htmx. A static file, not an inline script: the Content-Security-Policy
   allows scripts only from this site (or with a per-request nonce). */
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  if (window.htmx) {
    // The CSP has no 'unsafe-eval': hx-on / js: expressions could not run anyway.
    window.htmx.config.allowEval = false;
    // htmx would keep snapshots of visited pages in localStorage; pages can show (revealed)
    // personal information, so nothing is cached there. Back/forward re-requests the page.
    window.htmx.config.historyCacheSize = 0;
    window.htmx.config.refreshOnHistoryMiss = true;
  }

  // Every htmx request carries the CSRF token from <meta name="csrf-token"> (Django's header).
  document.addEventListener("htmx:configRequest", function (event) {
    var token = csrfToken();
    if (token) {
      event.detail.headers["X-CSRFToken"] = token;
    }
  });
})();
