/* The admin index's dashboard: polls the figures (monitoring/views.py dashboard_data) every N seconds and redraws in
   place; "Updated hh:mm:ss" says when the shown figures were computed, and turns red when a refresh fails. */
(function () {
  "use strict";
  const root = document.getElementById("dashboard");
  if (!root) return;
  const refreshMs = 1000 * Number(root.dataset.refreshSeconds || 10);
  const COLORS = { COMPLETED: "#16a34a", FAILED: "#dc2626", CRASHED: "#9333ea", CANCELLED: "#94a3b8" };
  let range = "1h";
  let timer = null;

  const $ = (id) => document.getElementById(id);
  const time = (iso) => (iso ? new Date(iso).toLocaleTimeString([], { hour12: false }) : "–");
  const hour = (iso) => new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false });
  const shortDate = (iso) => new Date(iso).toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", hour12: false });

  function text(id, value, tone) {
    const node = $(id);
    node.textContent = value;
    if (tone !== undefined) node.className = `kpi ${tone}`;
  }

  function badge(label, kind) {
    const span = document.createElement("span");
    span.className = `badge badge-${String(kind || label).toLowerCase()}`;
    span.textContent = label;
    return span;
  }

  function listItem(parts) {
    const li = document.createElement("li");
    for (const part of parts) li.append(part);
    return li;
  }

  function link(label, href) {
    const a = document.createElement("a");
    a.href = href;
    a.textContent = label;
    return a;
  }

  function muted(value) {
    const span = document.createElement("span");
    span.className = "muted";
    span.textContent = value;
    return span;
  }

  function fill(id, items, render, empty) {
    const list = $(id);
    list.replaceChildren(...(items.length ? items.map(render) : [listItem([muted(empty)])]));
  }

  function ago(seconds) {
    if (seconds === null || seconds === undefined) return "never";
    if (seconds < 120) return `${Math.round(seconds)} s`;
    if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
    return `${Math.round(seconds / 3600)} h`;
  }

  function renderCards(data) {
    const score = data.health.score;
    text("dash-score", `${Math.round(score)}`, score >= 90 ? "ok" : score >= 60 ? "warn" : "bad");
    const down = data.health.components.filter((c) => c.status !== "ok").length;
    $("dash-score-note").textContent = down ? `${down} component(s) not ok` : "all components ok";
    const critical = data.alerts.by_severity.critical || 0;
    text("dash-alerts", `${data.alerts.open}`, critical ? "bad" : data.alerts.open ? "warn" : "ok");
    $("dash-alerts-note").textContent = `${critical} critical, ${data.alerts.by_severity.warning || 0} warning`;
    const capped = (n) => (n > data.runs.count_cap ? `${data.runs.count_cap}+` : `${n}`);
    text("dash-active", capped(data.runs.active), "");
    $("dash-late").textContent = `${capped(data.runs.late)} late`;
    const rate = data.runs.success_rate_24h;
    text("dash-success", rate === null ? "–" : `${rate}%`, rate === null ? "" : rate >= 95 ? "ok" : rate >= 80 ? "warn" : "bad");
    const finished = Object.values(data.runs.finished_24h).reduce((a, b) => a + b, 0);
    $("dash-finished").textContent = `${finished} finished, ${data.runs.finished_24h.FAILED || 0} failed`;
    const lag = data.sync.lag_seconds;
    const interval = data.sync.interval_seconds;
    text("dash-sync", ago(lag), lag === null ? "bad" : lag < 3 * interval ? "ok" : lag < 10 * interval ? "warn" : "bad");
    $("dash-sync-note").textContent = `sync every ${interval} s`;
  }

  function renderCharts(data) {
    const hours = data.runs.per_hour;
    window.CPCharts.stackedBars(
      $("dash-runs-chart"), $("dash-runs-legend"), hours.map((h) => hour(h.hour)),
      Object.keys(COLORS).map((state) => ({ name: state.toLowerCase(), color: COLORS[state], values: hours.map((h) => h[state]) })),
      { label: "finished runs per hour by outcome" },
    );
    const points = data.host.points;
    $("dash-host-name").textContent = data.host.name ? `· ${data.host.name}` : "";
    window.CPCharts.lines(
      $("dash-host-chart"), $("dash-host-legend"), points.map((p) => (data.host.range === "7d" ? shortDate(p.t) : hour(p.t))),
      [
        { name: "CPU %", color: "#2563eb", values: points.map((p) => p.cpu) },
        { name: "memory %", color: "#f59e0b", values: points.map((p) => p.memory) },
        { name: "disk %", color: "#64748b", values: points.map((p) => p.disk) },
      ],
      { max: 100, unit: "%", label: "host CPU, memory and disk", empty: "no samples in this range" },
    );
  }

  function renderLists(data) {
    // Each row: what it is, a muted detail that takes the room left, a badge at the end.
    fill("dash-components", data.health.components, (c) =>
      listItem([c.name, muted(c.message || ""), badge(c.status)]), "no components checked yet");
    fill("dash-alert-list", data.alerts.items, (a) =>
      listItem([link(a.subject, a.url), muted(`${a.status} · ${time(a.last_seen)} · ${a.message}`), badge(a.severity)]),
      "no open alerts");
    fill("dash-active-list", data.runs.active_items, (r) =>
      listItem([link(r.name, r.url), muted(r.flow), badge(r.state, r.state_type)]), "nothing running");
    const card = $("dash-activity-card");
    card.hidden = data.activity === null;
    if (data.activity !== null) {
      fill("dash-activity", data.activity, (e) =>
        listItem([`${e.actor} · ${e.action}`, muted(`${time(e.at)} ${e.target}`), badge(e.outcome)]), "no activity yet");
    }
  }

  async function refresh() {
    const updated = $("dash-updated");
    try {
      const response = await fetch(`${root.dataset.url}?range=${encodeURIComponent(range)}`, {
        headers: { Accept: "application/json" }, credentials: "same-origin",
      });
      if (!response.ok || !(response.headers.get("content-type") || "").includes("json")) {
        throw new Error(response.redirected ? "signed out" : `HTTP ${response.status}`);
      }
      const data = await response.json();
      renderCards(data);
      renderCharts(data);
      renderLists(data);
      updated.textContent = `Updated ${time(data.generated_at)} · refreshes every ${refreshMs / 1000} s`;
      updated.dataset.generatedAt = data.generated_at;
      updated.classList.remove("stale");
    } catch (error) {
      updated.textContent = `Not updated: ${error.message} (last ${time(updated.dataset.generatedAt)})`;
      updated.classList.add("stale");
    }
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(async () => { await refresh(); schedule(); }, refreshMs);
  }

  for (const button of root.querySelectorAll("button[data-range]")) {
    button.addEventListener("click", async () => {
      range = button.dataset.range;
      for (const other of root.querySelectorAll("button[data-range]")) other.setAttribute("aria-pressed", String(other === button));
      await refresh();
      schedule();
    });
  }
  refresh().then(schedule);
})();
