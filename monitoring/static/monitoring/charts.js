/* Small hand-written SVG charts for the admin (no library, no CDN): CPCharts.lines and CPCharts.stackedBars.
   Each draws into a container element, replacing what was there; values are numbers or null (a gap). */
(function () {
  "use strict";
  const NS = "http://www.w3.org/2000/svg";
  const W = 600, H = 200, PAD = { left: 34, right: 8, top: 10, bottom: 22 };

  function el(name, attrs, parent) {
    const node = document.createElementNS(NS, name);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    if (parent) parent.appendChild(node);
    return node;
  }

  function frame(container, label) {
    container.replaceChildren();
    const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": label }, container);
    return svg;
  }

  function yAxis(svg, max, unit) {
    const innerH = H - PAD.top - PAD.bottom;
    for (const fraction of [0, 0.5, 1]) {
      const y = PAD.top + innerH * (1 - fraction);
      el("line", { x1: PAD.left, x2: W - PAD.right, y1: y, y2: y, class: "axis" }, svg);
      const text = el("text", { x: PAD.left - 4, y: y + 3, "text-anchor": "end" }, svg);
      text.textContent = `${Math.round(max * fraction)}${unit || ""}`;
    }
  }

  function xLabels(svg, labels, step) {
    const innerW = W - PAD.left - PAD.right;
    const every = Math.max(1, Math.ceil(labels.length / 6));
    labels.forEach((label, i) => {
      if (i % every !== 0) return;
      const text = el("text", { x: PAD.left + step * (i + 0.5), y: H - 6, "text-anchor": "middle" }, svg);
      text.textContent = label;
    });
    return innerW;
  }

  function legend(target, series) {
    if (!target) return;
    target.replaceChildren();
    for (const s of series) {
      const item = document.createElement("span");
      const swatch = document.createElement("i");
      swatch.style.background = s.color;
      item.append(swatch, s.name);
      target.appendChild(item);
    }
  }

  /* series: [{name, color, values: [number|null]}], labels: [string]; max: the y axis top (e.g. 100 for percent) */
  function lines(container, legendTarget, labels, series, options) {
    const opts = options || {};
    const svg = frame(container, opts.label || "line chart");
    const max = opts.max || Math.max(1, ...series.flatMap((s) => s.values.filter((v) => v !== null)));
    yAxis(svg, max, opts.unit);
    const innerW = W - PAD.left - PAD.right, innerH = H - PAD.top - PAD.bottom;
    const step = innerW / Math.max(1, labels.length);
    xLabels(svg, labels, step);
    if (!labels.length) {
      const text = el("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, svg);
      text.textContent = opts.empty || "no data yet";
    }
    for (const s of series) {
      let d = "";
      s.values.forEach((value, i) => {
        if (value === null || value === undefined) return;
        const x = PAD.left + step * (i + 0.5), y = PAD.top + innerH * (1 - Math.min(value, max) / max);
        d += `${d && s.values[i - 1] !== null && s.values[i - 1] !== undefined ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)}`;
      });
      el("path", { d, fill: "none", stroke: s.color, "stroke-width": 2, "stroke-linejoin": "round" }, svg);
    }
    legend(legendTarget, series);
  }

  /* series stacked bottom-up in the order given */
  function stackedBars(container, legendTarget, labels, series, options) {
    const opts = options || {};
    const svg = frame(container, opts.label || "bar chart");
    const totals = labels.map((_, i) => series.reduce((sum, s) => sum + (s.values[i] || 0), 0));
    const max = Math.max(1, ...totals);
    yAxis(svg, max);
    const innerW = W - PAD.left - PAD.right, innerH = H - PAD.top - PAD.bottom;
    const step = innerW / Math.max(1, labels.length);
    xLabels(svg, labels, step);
    labels.forEach((label, i) => {
      let base = 0;
      for (const s of series) {
        const value = s.values[i] || 0;
        if (!value) continue;
        const h = (innerH * value) / max, y = PAD.top + innerH * (1 - (base + value) / max);
        const bar = el("rect", { x: PAD.left + step * i + step * 0.15, y, width: step * 0.7, height: h, fill: s.color, rx: 2 }, svg);
        el("title", {}, bar).textContent = `${label}: ${value} ${s.name}`;
        base += value;
      }
    });
    legend(legendTarget, series);
  }

  window.CPCharts = { lines, stackedBars };
})();
