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

  // An Application's page: fetch the page again when the Application changes. Answers
  // may come back out of order, or from a read made just before the change: an older
  // answer than the one shown is dropped, and a page older than the last change seen
  // is fetched again (a few times at most).
  var pending = null;
  var latest = "";
  var asked = 0;
  var shown = 0;
  var retries = 0;
  var schedule = function (ms) {
    if (pending === null) {
      pending = window.setTimeout(refresh, ms);
    }
  };
  var versionOf = function (element) {
    return new URL(element.dataset.live || "", window.location.href).searchParams.get("rv") || "";
  };
  var refresh = function () {
    pending = null;
    var mine = ++asked;
    var wanted = latest;
    fetch(window.location.href, { headers: { Accept: "text/html" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .catch(function () { return null; })
      .then(function (text) {
        if (!text) {  // a failed refresh is tried again, once the server answers
          schedule(1000);
          return;
        }
        if (mine < shown) { return; }
        var fresh = new DOMParser().parseFromString(text, "text/html").getElementById("main");
        if (!fresh) { return; }
        shown = mine;
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
        if (wanted && versionOf(fresh) !== wanted && wanted === latest && retries < 5) {
          retries += 1;
          schedule(250);
        } else {
          retries = 0;
        }
      });
  };
  source.addEventListener("changed", function (event) {
    latest = JSON.parse(event.data).resourceVersion || "";
    schedule(100);
  });
})();
