// Live figures without a page reload: every element with data-poll is refreshed from its
// URL every data-every seconds while the page is visible. Nothing else needs script.
(function () {
  "use strict";
  function poll(el) {
    var every = Math.max(2, Number(el.getAttribute("data-every")) || 5) * 1000;
    function tick() {
      if (document.hidden) { return setTimeout(tick, every); }
      fetch(el.getAttribute("data-poll"), { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (r) {
          if (r.status === 401 || r.redirected) { location.reload(); return null; }
          return r.ok ? r.text() : null;
        })
        .then(function (html) { if (html !== null) { el.innerHTML = html; } })
        .catch(function () { /* the next tick tries again */ })
        .then(function () { setTimeout(tick, every); });
    }
    setTimeout(tick, every);
  }
  document.querySelectorAll("[data-poll]").forEach(poll);
})();
