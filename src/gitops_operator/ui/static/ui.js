// Live updates for the gitops-operator web UI (progressive enhancement: every page
// works without this file). The page names its server-sent events URL in
// <main data-live>; the list page patches its rows, an Application's page reloads
// its content in place when the Application changes.
(function () {
  "use strict";
  var main = document.getElementById("main");
  var status = document.getElementById("live-status");
  if (!main || !main.dataset.live || !window.EventSource) {
    return;
  }
  var source = new EventSource(main.dataset.live);
  var say = function (text) {
    if (status && status.textContent !== text) {
      status.textContent = text;
    }
  };
  source.onopen = function () {
    say("Live updates on.");
  };
  source.onerror = function () {
    say("Live updates interrupted; reconnecting.");
  };
  source.addEventListener("denied", function (event) {
    say("Live updates refused: " + JSON.parse(event.data).message);
    source.close();
  });

  var badgeClass = {
    Healthy: "ok", Synced: "ok", Progressing: "busy", Degraded: "bad", Failed: "bad",
    Missing: "bad", OutOfSync: "warn", Suspended: "muted", Unknown: "muted"
  };
  var setBadge = function (cell, value) {
    var badge = cell.querySelector(".badge");
    if (!badge) { return; }
    badge.textContent = value;
    badge.className = "badge " + (badgeClass[value] || "muted");
  };
  var rowOf = function (key) {
    return document.querySelector('tr[data-key="' + CSS.escape(key) + '"]');
  };

  source.addEventListener("app", function (event) {
    var data = JSON.parse(event.data);
    var row = rowOf(data.key);
    if (!row) { return; }
    setBadge(row.querySelector('[data-cell="sync"]'), data.sync);
    setBadge(row.querySelector('[data-cell="health"]'), data.health);
    row.querySelector('[data-cell="revision"] code').textContent = data.revision;
    row.querySelector('[data-cell="age"]').textContent = data.age;
    row.querySelector('[data-cell="message"]').textContent = data.message;
    row.dataset.updated = String(Date.now());
  });
  source.addEventListener("gone", function (event) {
    var row = rowOf(JSON.parse(event.data).key);
    if (row) { row.remove(); }
  });

  var pending = null;
  var refresh = function () {
    pending = null;
    fetch(window.location.href, { headers: { Accept: "text/html" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .catch(function () { return null; })
      .then(function (text) {
        if (!text) {  // a failed refresh is tried again, once the server answers
          if (pending === null) { pending = window.setTimeout(refresh, 1000); }
          return;
        }
        var fresh = new DOMParser().parseFromString(text, "text/html").getElementById("main");
        if (!fresh) { return; }
        var focused = document.activeElement && document.activeElement.id;
        var notice = main.querySelector(".notice");  // said once: keep it on screen
        main.innerHTML = fresh.innerHTML;
        if (notice && !main.querySelector(".notice")) {
          main.querySelector("h1").after(notice);
        }
        main.dataset.updated = String(Date.now());
        if (focused && document.getElementById(focused)) {
          document.getElementById(focused).focus();
        }
      });
  };
  source.addEventListener("changed", function () {
    if (pending === null) {
      pending = window.setTimeout(refresh, 100);
    }
  });
})();
