// Langfuse JS/TS SDK v5 (`npm install @langfuse/tracing @langfuse/otel @opentelemetry/sdk-node`),
// OpenTelemetry spans into Spyglass's OTLP endpoint.
// Set LANGFUSE_PUBLIC_KEY, LANGFUSE_SECRET_KEY and LANGFUSE_BASE_URL (e.g. http://127.0.0.1:3000).
import { LangfuseSpanProcessor } from "@langfuse/otel";
import { startActiveObservation } from "@langfuse/tracing";
import { NodeSDK } from "@opentelemetry/sdk-node";

const sdk = new NodeSDK({ spanProcessors: [new LangfuseSpanProcessor()] });
sdk.start();

const traceId = await startActiveObservation("js-v5-quickstart", async (span) => {
  span.update({ input: "What is the capital of France?" });
  const generation = span.startObservation(
    "llm-call",
    { model: "gpt-4o-mini", input: [{ role: "user", content: "What is the capital of France?" }] },
    { asType: "generation" },
  );
  generation.update({ output: { role: "assistant", content: "Paris" }, usageDetails: { input: 14, output: 1 } });
  generation.end();
  span.update({ output: "Paris" });
  return span.traceId;
});

await sdk.shutdown(); // flushes the span processor
console.log(`trace ${traceId}`);
