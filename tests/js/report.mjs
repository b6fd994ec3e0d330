// What every driver script shares: the run id, a record of the SDK's HTTP exchanges, and the
// one JSON line on stdout that tests/compat_js reads.
//
// The SDKs swallow transport errors (they log and go on), so each script records, through Node's
// diagnostics channels, every request the SDK made and the status Spyglass answered, plus the
// events a 207 rejected; the tests assert on those instead of trusting the SDK to complain.
import dc from "node:diagnostics_channel";

export const RESULT_MARKER = "SPYGLASS_RESULT ";

export const exchanges = [];

function record(request, response, error) {
  exchanges.push({
    method: request.method,
    path: request.path,
    status: response ? response.statusCode : null,
    error: error ? String(error.message ?? error) : null,
  });
}

// node:http (the OTLP/HTTP exporter) and undici (global fetch: the API clients of both SDKs).
dc.subscribe("http.client.response.finish", ({ request, response }) => record(request, response));
dc.subscribe("http.client.request.error", ({ request, error }) => record(request, null, error));
dc.subscribe("undici:request:headers", ({ request, response }) => record(request, response));
dc.subscribe("undici:request:error", ({ request, error }) => record(request, null, error));

// A 207 from /api/public/ingestion can still reject single events; both SDKs only log those.
// The SDKs call the global fetch at request time, so wrapping it sees each 207 body.
export const rejected = [];
const fetchFromNode = globalThis.fetch;
globalThis.fetch = async (...args) => {
  const response = await fetchFromNode(...args);
  if (response.status === 207) {
    const body = await response.clone().json().catch(() => ({ errors: ["207 body is not JSON"] }));
    rejected.push(...(body.errors ?? []));
  }
  return response;
};

export function runId() {
  const id = process.env.SPYGLASS_RUN_ID;
  if (!id) throw new Error("SPYGLASS_RUN_ID is not set");
  return id;
}

export function scenario(handlers) {
  const name = process.argv[2];
  const handler = handlers[name];
  if (!handler) {
    console.error(`unknown scenario ${JSON.stringify(name)}; one of: ${Object.keys(handlers).join(", ")}`);
    process.exit(2);
  }
  handler(runId()).then(
    (result) => {
      process.stdout.write(`${RESULT_MARKER}${JSON.stringify({ ...result, exchanges, rejected })}\n`);
    },
    (error) => {
      console.error(error?.stack ?? String(error));
      console.error(`exchanges so far: ${JSON.stringify(exchanges)}`);
      process.exit(1);
    },
  );
}
