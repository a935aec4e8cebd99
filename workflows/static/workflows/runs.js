/* The run list's optional auto-refresh (remembered per browser) and the run page's live log tail. */
(function () {
  "use strict";

  function autoRefresh() {
    var box = document.getElementById("auto-refresh");
    if (!box) return;
    var key = "workflows.runs.autoRefresh";
    box.checked = window.localStorage.getItem(key) === "1";
    var timer = null;
    function schedule() {
      if (timer) window.clearTimeout(timer);
      if (box.checked) timer = window.setTimeout(function () { window.location.reload(); }, box.dataset.seconds * 1000);
    }
    box.addEventListener("change", function () {
      window.localStorage.setItem(key, box.checked ? "1" : "0");
      schedule();
    });
    schedule();
  }

  function logRow(line) {
    var row = document.createElement("tr");
    var cells = [["when", line.time], ["level", line.level], ["logger", line.logger], ["message", line.message]];
    cells.forEach(function (cell) {
      var td = document.createElement("td");
      td.className = cell[0];
      if (cell[0] === "level") {
        var span = document.createElement("span");
        span.className = "log-level log-level--" + line.level.toLowerCase();
        span.textContent = line.level;
        td.appendChild(span);
      } else if (cell[0] === "message") {
        var pre = document.createElement("pre");
        pre.textContent = cell[1];
        td.appendChild(pre);
      } else if (cell[0] === "when") {
        td.textContent = cell[1].replace(/^.*T/, "").replace(/(\.\d{3})\d*/, "$1").replace(/Z|[+-]00:00$/, "");
        td.title = cell[1];
      } else {
        td.textContent = cell[1];
      }
      row.appendChild(td);
    });
    return row;
  }

  function tailLogs() {
    var table = document.getElementById("run-log-lines");
    if (!table) return;
    var body = table.querySelector("tbody");
    var status = document.getElementById("run-logs-status");
    var after = table.dataset.after || "";
    var empty = document.getElementById("run-logs-empty");

    function poll() {
      var url = table.dataset.url + (after ? "?after=" + encodeURIComponent(after) : "");
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.json();
        })
        .then(function (page) {
          page.lines.forEach(function (line) { body.appendChild(logRow(line)); });
          if (page.lines.length && empty) { empty.remove(); empty = null; }
          after = page.after || after;
          var live = !page.finished || page.lines.length;
          status.textContent = live ? "Tailing live (state: " + page.state + ")…" : "Run finished (" + page.state + ").";
          if (live) window.setTimeout(poll, page.lines.length ? 500 : 2000);
        })
        .catch(function (error) {
          status.textContent = "Log tail paused: " + error.message + "; retrying…";
          window.setTimeout(poll, 5000);
        });
    }
    poll();
  }

  document.addEventListener("DOMContentLoaded", function () {
    autoRefresh();
    tailLogs();
  });
})();
