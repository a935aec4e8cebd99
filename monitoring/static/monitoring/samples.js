/* The host chart above the samples list: the dashboard's host figures for the chosen range. */
(function () {
  "use strict";
  const card = document.getElementById("samples-chart-card");
  if (!card) return;
  const label = (range, iso) => new Date(iso).toLocaleString([], range === "7d"
    ? { month: "short", day: "numeric", hour: "2-digit", hour12: false }
    : { hour: "2-digit", minute: "2-digit", hour12: false });

  async function draw(range) {
    const response = await fetch(`${card.dataset.url}?range=${encodeURIComponent(range)}`, { headers: { Accept: "application/json" } });
    if (!response.ok) return;
    const host = (await response.json()).host;
    document.getElementById("samples-host").textContent = host.name ? `· ${host.name}` : "";
    window.CPCharts.lines(
      document.getElementById("samples-chart"), document.getElementById("samples-legend"),
      host.points.map((p) => label(range, p.t)),
      [
        { name: "CPU %", color: "#2563eb", values: host.points.map((p) => p.cpu) },
        { name: "memory %", color: "#f59e0b", values: host.points.map((p) => p.memory) },
        { name: "disk %", color: "#64748b", values: host.points.map((p) => p.disk) },
      ],
      { max: 100, unit: "%", label: "host CPU, memory and disk", empty: "no samples in this range" },
    );
  }

  for (const button of card.querySelectorAll("button[data-range]")) {
    button.addEventListener("click", () => {
      for (const other of card.querySelectorAll("button[data-range]")) other.setAttribute("aria-pressed", String(other === button));
      draw(button.dataset.range);
    });
  }
  draw("1h");
})();
