/* The try-it panel of a version's page (<form id="try-it">): sends the input to the REST prediction endpoint
   with the page's session and CSRF token, exactly as a client would, and shows the answer for people: tags
   under their tokens with scores, label probabilities as bars, a translation with its n-best list. Any other
   shape is shown as the JSON it is. */
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

  function render(output) {
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
    answer.replaceChildren(el("p", { class: "rnn-answered" }, `${body.model} version ${body.version}`),
      ...body.outputs.map((output) => el("div", { class: "rnn-output" }, render(output))), raw);
  }

  document.addEventListener("DOMContentLoaded", () => {
    const form = document.getElementById("try-it");
    if (form) form.addEventListener("submit", submit);
  });
})();
