/* The try-it panel of a version's page (<form id="try-it">): sends the input to the REST prediction endpoint
   with the page's session and CSRF token, exactly as a client would, and shows the answer for people: tags
   under their tokens with scores, label probabilities as bars, a translation with its n-best list, a forecast
   as a chart per target column (Chart.js): the input's history, the forecast and, for the example the page
   started with, what happened (<script id="try-it-forecast">). Any other shape is shown as the JSON it is. */
"use strict";
(function () {
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    for (const child of children) node.append(child instanceof Node ? child : String(child));
    return node;
  }
  const pct = (p) => (100 * p).toFixed(1) + "%";
  // Numbers to 4 significant digits, as the admin's pages show them (rnnservice/display.py): -0.03412, -12.35.
  const significant = (x) => String(Number(x.toPrecision(4)));

  function tagging(output) {
    const table = el("table", { class: "rnn-table rnn-tags" });
    const rows = [["token", output.tokens], ["tag", output.tags], ["score", output.scores.map(pct)]];
    for (const [name, cells] of rows) table.append(el("tr", {}, el("th", {}, name), ...cells.map((c) => el("td", {}, c))));
    return table;
  }

  function classification(output) {
    const box = el("div", {}, el("p", { class: "rnn-label" }, "label: ", el("strong", {}, output.label)));
    const ranked = Object.entries(output.probabilities).sort((a, b) => b[1] - a[1]);
    for (const [label, p] of ranked) {
      box.append(el("div", { class: "rnn-prob" }, el("span", {}, label),
        el("meter", { min: "0", max: "1", value: String(p) }), el("span", {}, pct(p))));
    }
    return box;
  }

  function translation(output) {
    const box = el("div", {}, el("p", { class: "rnn-translation" }, el("strong", {}, output.translation),
      ` (score ${significant(output.score)})`));
    if (output.n_best) {
      const list = el("ol", { class: "rnn-nbest" });
      for (const h of output.n_best) list.append(el("li", {}, h.translation, ` (${significant(h.score)})`));
      box.append(el("p", {}, "n-best:"), list);
    }
    return box;
  }

  const COLOURS = { history: "#417690", forecast: "#e0803a", actual: "#3a9e5c" };

  // One line chart per target column: the history the model read, then the forecast and what happened.
  function forecasting(output, input, known) {
    const box = el("div", { class: "rnn-forecast" });
    const rows = (input && input.values) || [];
    const steps = output.forecast.length;
    const labels = [...rows.map((_, i) => i - rows.length + 1), ...output.forecast.map((_, i) => i + 1)];
    output.columns.forEach((column, k) => {
      const at = known ? known.columns.indexOf(column) : -1;
      const past = rows.map((row) => (Array.isArray(row) ? row[at >= 0 ? at : k] : row));
      const pad = (values, before) => [...Array(before).fill(null), ...values];
      const series = [
        { label: "history", data: [...past, ...Array(steps).fill(null)], borderColor: COLOURS.history },
        // The forecast starts at the last history point, so that the two lines join.
        { label: "forecast", data: pad([past[past.length - 1], ...output.forecast.map((r) => r[k])], past.length - 1),
          borderColor: COLOURS.forecast },
      ];
      if (known && known.actual) {
        series.push({ label: "what happened", data: pad([past[past.length - 1], ...known.actual.map((r) => r[k])],
          past.length - 1), borderColor: COLOURS.actual, borderDash: [4, 3] });
      }
      const canvas = el("canvas", { "aria-label": `forecast of ${column}` });
      box.append(el("figure", { class: "rnn-chart" }, el("figcaption", {}, column),
        el("div", { class: "rnn-chart-box" }, canvas)));
      if (window.Chart) {
        new Chart(canvas, { type: "line", data: { labels: labels, datasets: series.map((s) => (
          { ...s, pointRadius: 0, borderWidth: 1.5, spanGaps: false })) },
          options: { animation: false, maintainAspectRatio: false, interaction: { mode: "index", intersect: false },
                     scales: { x: { title: { display: true, text: "steps from now" } } } } });
      }
    });
    return box;
  }

  function render(output, input, known) {
    if (output && Array.isArray(output.forecast)) return forecasting(output, input, known);
    if (output && Array.isArray(output.tags)) return tagging(output);
    if (output && output.probabilities) return classification(output);
    if (output && typeof output.translation === "string") return translation(output);
    return el("pre", {}, JSON.stringify(output, null, 2));
  }

  function inputsOf(form) {
    const text = form.elements.input.value;
    if (form.elements.kind.value === "json") return [JSON.parse(text)];     // one value, as the API takes it
    return text.split("\n").map((line) => line.trim()).filter(Boolean);
  }

  function optionsOf(form) {
    const options = {};
    for (const input of form.querySelectorAll(".rnn-tryit-options input")) {
      if (input.value !== input.defaultValue) options[input.name] = Number(input.value);   // only what was changed
    }
    return options;
  }

  async function submit(event) {
    event.preventDefault();
    const form = event.target;
    const answer = document.getElementById("try-it-answer");
    answer.replaceChildren(el("p", {}, "…"));
    let inputs;
    try {
      inputs = inputsOf(form);
    } catch (error) {
      answer.replaceChildren(el("p", { class: "errornote" }, "The input is not JSON: " + error.message));
      return;
    }
    const response = await fetch(form.dataset.url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json",
                 "X-CSRFToken": form.elements.csrfmiddlewaretoken.value },
      body: JSON.stringify({ inputs: inputs, version: Number(form.dataset.version), options: optionsOf(form) }),
    });
    const body = await response.json().catch(() => ({ detail: response.statusText }));
    const raw = el("details", {}, el("summary", {}, "JSON answer"), el("pre", {}, JSON.stringify(body, null, 2)));
    if (!response.ok) {
      answer.replaceChildren(el("p", { class: "errornote" }, `${response.status}: ${body.detail || ""}`), raw);
      return;
    }
    // What happened after the example the page started with; for another input it is not known.
    const script = document.getElementById("try-it-forecast");
    const example = script && form.elements.input.value === form.elements.input.defaultValue
      ? JSON.parse(script.textContent) : null;
    const known = example || (script ? { columns: JSON.parse(script.textContent).columns } : null);
    answer.replaceChildren(el("p", { class: "rnn-answered" }, `${body.model} version ${body.version}`),
      ...body.outputs.map((output, i) => el("div", { class: "rnn-output" }, render(output, inputs[i], known))), raw);
  }

  document.addEventListener("DOMContentLoaded", () => {
    const form = document.getElementById("try-it");
    if (form) form.addEventListener("submit", submit);
  });
})();
