// An application's TypeScript against the types openapi-typescript generates from /api/schema/ (api.d.ts, made by
// test_typescript.py): a predict request typed, and the outputs read by name, with no cast. `tsc --noEmit` passes.
import type { components, paths } from "./api";

type PredictRequest = components["schemas"]["PredictRequest"];
type Prediction = paths["/api/models/{name}/predict/"]["post"]["responses"][200]["content"]["application/json"];
type ApiError = components["schemas"]["Error"];

export const request: PredictRequest = {
  inputs: [
    "a witty and charming movie .",
    { tokens: ["EU", "rejects", "German", "call"] },
    { values: [[0.1, 1.2], [0.4, 0.9]] },
  ],
  alias: "production",
  options: { beam_size: 4, n_best: 2 },
};

// @ts-expect-error: an input is a text, tokens or a series, never a number
export const refused: PredictRequest = { inputs: [42] };

export function read(prediction: Prediction): string[] {
  switch (prediction.task) {
    case "classification":
      return prediction.outputs.map((output) => `${output.label} ${output.probabilities[output.label]}`);
    case "tagging":
      return prediction.outputs.map((output) => output.tags.join(" "));
    case "translation":
      return prediction.outputs.map((output) => output.translation);
    default:            // the answers of the tasks this code does not read
      return [];
  }
}

export function explain(error: ApiError): string {
  const where = error.field === undefined ? "" : ` (${error.field}${error.index === undefined ? "" : `[${error.index}]`})`;
  return error.detail + where + (error.errors ?? []).map((each) => `; ${each.detail}`).join("");
}
