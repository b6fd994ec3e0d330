// Preload for running a copy-paste snippet from docs/integrations/ unchanged:
//   node --import ./tests/js/snippet.mjs docs/integrations/js-v5.mjs
// Bare imports the snippet's own folder cannot resolve (it has no node_modules) are resolved from
// this folder's node_modules, and the SDK's HTTP exchanges are printed as a SPYGLASS_RESULT line
// when the snippet exits.
import { register } from "node:module";

import { RESULT_MARKER, exchanges, rejected } from "./report.mjs";

register("./snippet-hooks.mjs", import.meta.url);

process.on("exit", () => {
  process.stdout.write(`${RESULT_MARKER}${JSON.stringify({ exchanges, rejected })}\n`);
});
