// The OpenTelemetry-based v5 SDK (@langfuse/tracing + @langfuse/otel: OTLP/JSON to
// /api/public/otel/v1/traces; @langfuse/client: scores, prompts, datasets) against Spyglass.
// Usage: node langfuse_v5.mjs <trace|chunked|prompts|datasets>; configured by LANGFUSE_PUBLIC_KEY,
// LANGFUSE_SECRET_KEY, LANGFUSE_BASE_URL (+ LANGFUSE_FLUSH_AT, LANGFUSE_TRACING_ENVIRONMENT,
// LANGFUSE_RELEASE as the SDK reads them) and SPYGLASS_RUN_ID. Prints one SPYGLASS_RESULT line.
import { LangfuseClient } from "@langfuse/client";
import { LangfuseSpanProcessor } from "@langfuse/otel";
import { propagateAttributes, startActiveObservation, startObservation } from "@langfuse/tracing";
import { NodeTracerProvider } from "@opentelemetry/sdk-trace-node";

import { scenario } from "./report.mjs";

// The setup of the @langfuse/otel README: the span processor on a registered NodeTracerProvider.
function tracing() {
  const provider = new NodeTracerProvider({ spanProcessors: [new LangfuseSpanProcessor()] });
  provider.register();
  return provider;
}

const MESSAGES = [
  { role: "system", content: "You are a weather assistant." },
  { role: "user", content: "Weather in Paris?" },
];
const TOOL_CALL = {
  role: "assistant",
  content: null,
  tool_calls: [{ id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } }],
};

// User, session, tags and trace name: v5 has no updateActiveTrace (v4 had); propagateAttributes
// puts them on every span of the callback.
async function trace(run) {
  const provider = tracing();
  const langfuse = new LangfuseClient();
  const ids = {};
  const attributes = {
    userId: `user-${run}`,
    sessionId: `session-${run}`,
    tags: ["js", "v5"],
    traceName: `js-v5-${run}`,
    metadata: { run },
    version: "v-5",
  };
  await propagateAttributes(attributes, () =>
    startActiveObservation("agent-run", async (root) => {
      root.update({ input: { question: "Weather in Paris?" } });
      ids.traceId = root.traceId;
      ids.root = root.id;
      const plan = root.startObservation("plan", {
        input: { goal: "weather" },
        metadata: { source: "api", attempt: 2, nested: { a: 1 } },
      });
      const generation = plan.startObservation(
        "llm-call",
        { model: "gpt-4o-mini", modelParameters: { temperature: 0, max_tokens: 128 }, input: MESSAGES },
        { asType: "generation" },
      );
      generation.update({ output: TOOL_CALL, usageDetails: { input: 31, output: 9, total: 40 } }).end();
      plan.update({ output: { steps: 1 } }).end();
      ids.plan = plan.id;
      ids.generation = generation.id;
      await startActiveObservation(
        "get_weather",
        async (tool) => {
          ids.tool = tool.id;
          tool.update({ input: { city: "Paris" }, output: { temperature_c: 18, sky: "clear" } });
          tool.update({ level: "WARNING", statusMessage: "slow upstream" });
        },
        { asType: "tool" },
      );
      const firstToken = new Date();
      const answer = startObservation(
        "answer",
        {
          model: "gpt-4o",
          input: [...MESSAGES, TOOL_CALL, { role: "tool", tool_call_id: "call_1", content: '{"temperature_c":18}' }],
          completionStartTime: firstToken,
        },
        { asType: "generation" },
      );
      answer.update({
        output: { role: "assistant", content: "18°C and clear." },
        usageDetails: { input: 52, output: 7, total: 59, input_cached_tokens: 16 },
      });
      answer.end();
      ids.answer = answer.id;
      ids.firstToken = firstToken.toISOString();
      root.update({ output: { answer: "18°C and clear." } });
      langfuse.score.observation({ otelSpan: generation.otelSpan }, { name: "accuracy", value: 0.75, comment: "ok" });
      langfuse.score.trace({ otelSpan: root.otelSpan }, { name: "verdict", value: "correct", dataType: "CATEGORICAL" });
      langfuse.score.activeTrace({ name: "helpful", value: 1, dataType: "BOOLEAN" });
    }),
  );
  await langfuse.shutdown();
  await provider.shutdown();
  return ids;
}

// Many spans with a small LANGFUSE_FLUSH_AT: the batch processor exports them in several requests.
async function chunked(run) {
  const provider = tracing();
  const count = Number(process.env.SPYGLASS_SPAN_COUNT ?? 24);
  const ids = { children: [] };
  await startActiveObservation(`js-v5-chunked-${run}`, async (root) => {
    ids.traceId = root.traceId;
    ids.root = root.id;
    for (let i = 0; i < count; i++) {
      const child = root.startObservation(`step-${i}`, { input: { i }, output: { square: i * i } });
      child.end();
      ids.children.push(child.id);
    }
  });
  await provider.shutdown();
  return ids;
}

function describePrompt(prompt, compiled) {
  return {
    name: prompt.name,
    version: prompt.version,
    prompt: prompt.prompt,
    config: prompt.config,
    labels: prompt.labels,
    tags: prompt.tags,
    isFallback: prompt.isFallback,
    compiled,
  };
}

// text-<run> (v1 production, v2 staging) and chat-<run> (v1 production) were created through the
// REST API by the test; placeholder-<run> is created here, through the SDK.
async function prompts(run) {
  const provider = tracing();
  const langfuse = new LangfuseClient();
  const textName = `text-${run}`;
  const production = await langfuse.prompt.get(textName, { cacheTtlSeconds: 0 });
  const staging = await langfuse.prompt.get(textName, { label: "staging", cacheTtlSeconds: 0 });
  const second = await langfuse.prompt.get(textName, { version: 2, cacheTtlSeconds: 0 });
  const chat = await langfuse.prompt.get(`chat-${run}`, { type: "chat", cacheTtlSeconds: 0 });
  const created = await langfuse.prompt.create({
    name: `placeholder-${run}`,
    type: "chat",
    prompt: [
      { role: "system", content: "Answer about {{topic}}." },
      { type: "placeholder", name: "history" },
    ],
    labels: ["production"],
    config: { model: "gpt-4o" },
  });
  const placeholder = await langfuse.prompt.get(`placeholder-${run}`, { type: "chat", cacheTtlSeconds: 0 });
  const history = [{ role: "user", content: "And in winter?" }];
  const ids = {};
  await startActiveObservation(`js-v5-prompt-${run}`, async (root) => {
    ids.traceId = root.traceId;
    const generation = root.startObservation(
      "with-prompt",
      { model: "gpt-4o", prompt: chat, input: chat.compile({ city: "Lyon" }) },
      { asType: "generation" },
    );
    generation.update({ output: "Lyon is in France." }).end();
    ids.generationId = generation.id;
  });
  await provider.shutdown();
  return {
    production: describePrompt(production, production.compile({ city: "Paris" })),
    staging: describePrompt(staging, staging.compile({ city: "Paris" })),
    second: describePrompt(second, second.compile({ city: "Paris" })),
    chat: describePrompt(chat, chat.compile({ city: "Lyon" })),
    createdVersion: created.version,
    placeholder: describePrompt(placeholder, placeholder.compile({ topic: "weather" }, { history })),
    ...ids,
  };
}

async function datasets(run) {
  const langfuse = new LangfuseClient();
  const name = `js-v5-dataset-${run}`;
  const created = await langfuse.api.datasets.create({ name, description: "capitals", metadata: { run } });
  await langfuse.dataset.createItem({
    datasetName: name,
    id: `v5-item-a-${run}`,
    input: { country: "Japan" },
    expectedOutput: { capital: "Tokyo" },
    metadata: { difficulty: "easy" },
  });
  await langfuse.dataset.createItem({
    datasetName: name,
    id: `v5-item-b-${run}`,
    input: { country: "Chile" },
    expectedOutput: { capital: "Santiago" },
  });
  await langfuse.dataset.createItem({
    datasetName: name,
    id: `v5-item-c-${run}`,
    input: { country: "Mali" },
    expectedOutput: { capital: "Bamako" },
    status: "ARCHIVED",
  });
  const dataset = await langfuse.dataset.get(name, { fetchItemsPageSize: 1 });
  return {
    createdId: created.id,
    dataset: {
      id: dataset.id,
      name: dataset.name,
      description: dataset.description,
      metadata: dataset.metadata,
      items: dataset.items.map((item) => ({
        id: item.id,
        datasetName: item.datasetName,
        input: item.input,
        expectedOutput: item.expectedOutput,
        metadata: item.metadata,
        status: item.status,
      })),
    },
  };
}

scenario({ trace, chunked, prompts, datasets });
