// Langfuse JS/TS SDK v3 (`npm install langfuse`), batch ingestion into Spyglass.
// Set LANGFUSE_PUBLIC_KEY, LANGFUSE_SECRET_KEY and LANGFUSE_BASE_URL (e.g. http://127.0.0.1:3000).
import { Langfuse } from "langfuse";

const langfuse = new Langfuse({ baseUrl: process.env.LANGFUSE_BASE_URL });

const trace = langfuse.trace({ name: "js-v3-quickstart", userId: "user-1" });
const generation = trace.generation({
  name: "llm-call",
  model: "gpt-4o-mini",
  input: [{ role: "user", content: "What is the capital of France?" }],
});
generation.end({
  output: { role: "assistant", content: "Paris" },
  usageDetails: { input: 14, output: 1 },
});

await langfuse.shutdownAsync(); // sends everything still queued
console.log(`trace ${trace.id}`);
