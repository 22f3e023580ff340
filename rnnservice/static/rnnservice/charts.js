/* The admin's charts, drawn with Chart.js (static/vendor/chartjs) from the JSON each page carries:
   - <div data-curves="ID"> draws one line chart per series of the runs in <script id="ID"> ({"runs": [...]} or
     one run); with data-poll-url it fetches the job from the REST API every 2 s while the job is queued or
     running, and the charts, the status line and the JSON itself gain the new epochs without a reload;
   - <div data-bars="ID"> draws one bar chart per entry of {"charts": [{"title", "labels", "values"}]}. */
"use strict";
(function () {
  const PALETTE = ["#417690", "#e0803a", "#3a9e5c", "#b8465c", "#7a5bb5", "#8c6d31", "#2b9ebf", "#c65fa8"];
  const ACTIVE = ["queued", "running"];
  const POLL_MS = 2000;
  // Values to 4 significant digits, as the admin's tables show them (rnnservice/display.py).
  const significant = (x) => (x === null || x === undefined ? "-" : String(Number(Number(x).toPrecision(4))));

  function themed() {
    // The admin's own colours, so that the charts read in its light and dark themes alike.
    const css = getComputedStyle(document.documentElement);
    const fg = css.getPropertyValue("--body-quiet-color").trim() || "#666";
    Chart.defaults.color = fg;
    Chart.defaults.borderColor = css.getPropertyValue("--hairline-color").trim() || "#e8e8e8";
    Chart.defaults.animation = false;      // points appear as they come; no bouncing on each poll
    Chart.defaults.maintainAspectRatio = false;
  }

  function figure(grid, title) {
    const fig = document.createElement("figure");
    fig.className = "rnn-chart";
    const caption = document.createElement("figcaption");
    caption.textContent = title;
    const box = document.createElement("div");
    box.className = "rnn-chart-box";
    const canvas = document.createElement("canvas");
    canvas.setAttribute("aria-label", title);
    box.appendChild(canvas);
    fig.append(caption, box);
    grid.appendChild(fig);
    return canvas;
  }

  // The same shape as apps/training/curves.py's epoch_series, from the API's per-epoch rows.
  function epochSeries(rows) {
    rows = [...rows].sort((a, b) => a.epoch - b.epoch);
    const keys = new Set(rows.flatMap((row) => Object.keys(row)));
    const dev = [...keys].filter((k) => k.startsWith("dev_")).sort();
    const names = [...(keys.has("train_loss") ? ["train_loss"] : []), ...dev, ...(keys.has("lr") ? ["lr"] : [])];
    const series = {};
    for (const name of names) series[name] = rows.map((row) => (name in row ? row[name] : null));
    return { epochs: rows.map((row) => row.epoch), series: series };
  }

  function runsOf(data) {
    return data.runs || [{ label: data.job ? "job " + data.job : "run", epochs: data.epochs, series: data.series }];
  }

  function seriesNames(runs) {
    const names = [];
    for (const run of runs) for (const name of Object.keys(run.series)) if (!names.includes(name)) names.push(name);
    return names;
  }

  class LineCharts {
    constructor(grid) { this.grid = grid; this.charts = new Map(); }

    draw(runs) {
      for (const name of seriesNames(runs)) {
        const epochs = [...new Set(runs.flatMap((run) => run.epochs))].sort((a, b) => a - b);
        const datasets = runs.map((run, i) => ({
          label: run.label,
          data: epochs.map((e) => { const at = run.epochs.indexOf(e); return at < 0 ? null : run.series[name]?.[at] ?? null; }),
          borderColor: PALETTE[i % PALETTE.length], backgroundColor: PALETTE[i % PALETTE.length],
          pointRadius: 3, spanGaps: true, tension: 0,
        }));
        let chart = this.charts.get(name);
        if (!chart) {
          chart = new Chart(figure(this.grid, name), {
            type: "line", data: { labels: epochs, datasets: datasets },
            options: {
              plugins: {
                legend: { display: runs.length > 1 },
                tooltip: { callbacks: { label: (item) => `${item.dataset.label}: ${significant(item.parsed.y)}` } },
              },
              scales: { x: { title: { display: true, text: "epoch" } } },
            },
          });
          this.charts.set(name, chart);
        } else {
          chart.data.labels = epochs;
          chart.data.datasets = datasets;
          chart.update();
        }
      }
    }
  }

  // The same shape as apps/training/curves.py's job_curves, from the API's answer.
  function jobCurves(job) {
    const run = epochSeries(job.epochs);
    // As TrainingJob.planned_epochs: an ensemble's members train one after another, each its epochs.
    const planned = job.config.training.epochs * (job.config.training.ensemble || 1);
    const last = run.epochs.length ? run.epochs[run.epochs.length - 1] : 0;
    return { job: job.id, status: job.status, progress: job.progress, planned_epochs: planned,
             stopped_early_at: job.status === "succeeded" && last < planned ? last : null, ...run };
  }

  function showStatus(box, data) {
    const set = (field, text) => { const el = box.querySelector(`[data-field="${field}"]`); if (el) el.textContent = text; };
    set("status", data.status);
    set("progress", `${Math.round(data.progress * 100)}% (${data.epochs.length} of ${data.planned_epochs} epochs)`);
    const bar = box.querySelector("progress");
    if (bar) bar.value = data.progress;
    set("early", data.stopped_early_at ? `stopped early at epoch ${data.stopped_early_at}` : "");
    if (!ACTIVE.includes(data.status)) box.querySelectorAll("[data-while-active]").forEach((el) => el.remove());
  }

  function poll(box, source, charts, data) {
    const url = box.dataset.pollUrl;
    const tick = async () => {
      try {
        const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
        if (response.ok) {
          Object.assign(data, jobCurves(await response.json()));
          source.textContent = JSON.stringify(data);          // the JSON in the page stays what the charts show
          charts.draw(runsOf(data));
          showStatus(box, data);
          if (!ACTIVE.includes(data.status)) return;
        }
      } catch (error) {
        console.warn("polling", url, error);                 // a network hiccup: try again at the next tick
      }
      setTimeout(tick, POLL_MS);
    };
    setTimeout(tick, POLL_MS);
  }

  function initCurves(box) {
    const source = document.getElementById(box.dataset.curves);
    const data = JSON.parse(source.textContent);
    const grid = box.querySelector(".rnn-chart-grid") || box;
    const charts = new LineCharts(grid);
    charts.draw(runsOf(data));
    if (box.dataset.pollUrl && ACTIVE.includes(data.status)) poll(box, source, charts, data);
  }

  function initBars(box) {
    const data = JSON.parse(document.getElementById(box.dataset.bars).textContent);
    for (const spec of data.charts) {
      new Chart(figure(box, spec.title), {
        type: "bar",
        data: { labels: spec.labels, datasets: [{ label: spec.title, data: spec.values, backgroundColor: PALETTE[0] }] },
        options: { plugins: { legend: { display: false } },
                   scales: { x: { title: { display: !!spec.x, text: spec.x || "" } } } },
      });
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    themed();
    document.querySelectorAll("[data-curves]").forEach(initCurves);
    document.querySelectorAll("[data-bars]").forEach(initBars);
  });
  window.rnnCharts = { epochSeries: epochSeries };
})();
