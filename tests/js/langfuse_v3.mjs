// The legacy `langfuse` v3 SDK (batch ingestion, POST /api/public/ingestion) against Spyglass.
// Usage: node langfuse_v3.mjs <trace|prompts|datasets>; configured by LANGFUSE_PUBLIC_KEY,
// LANGFUSE_SECRET_KEY, LANGFUSE_BASE_URL and SPYGLASS_RUN_ID. Prints one SPYGLASS_RESULT line.
import { Langfuse } from "langfuse";

import { scenario } from "./report.mjs";

function client() {
  const langfuse = new Langfuse({ baseUrl: process.env.LANGFUSE_BASE_URL, flushAt: 100, flushInterval: 60_000 });
  const errors = [];
  langfuse.on("error", (error) => errors.push(typeof error === "string" ? error : JSON.stringify(error)));
  return { langfuse, errors };
}

async function finish(langfuse, errors) {
  await langfuse.shutdownAsync();
  if (errors.length) throw new Error(`SDK reported errors: ${errors.join("; ")}`);
}

const QUESTION = [
  { role: "system", content: "You answer in one word." },
  { role: "user", content: "Capital of France?" },
];

async function trace(run) {
  const { langfuse, errors } = client();
  const root = langfuse.trace({
    id: `v3-trace-${run}`,
    name: `js-v3-${run}`,
    userId: `user-${run}`,
    sessionId: `session-${run}`,
    tags: ["js", "v3"],
    input: { question: "Capital of France?" },
    metadata: { run, sdk: "langfuse-v3" },
    release: "r-7",
    version: "v-3",
  });
  const span = root.span({ id: `v3-span-${run}`, name: "retrieve", input: { query: "france capital" } });
  const draft = span.generation({
    id: `v3-draft-${run}`,
    name: "draft",
    model: "gpt-4o-mini",
    modelParameters: { temperature: 0.2, max_tokens: 64 },
    input: QUESTION,
  });
  draft.end({
    output: { role: "assistant", content: "Paris?" },
    usage: { promptTokens: 21, completionTokens: 3, totalTokens: 24 },
  });
  const firstToken = new Date();
  const answer = span.generation({
    id: `v3-answer-${run}`,
    name: "answer",
    model: "gpt-4o",
    input: QUESTION,
    completionStartTime: firstToken,
  });
  answer.end({
    output: { role: "assistant", content: "Paris" },
    usageDetails: { input: 30, output: 2, total: 32, input_cached_tokens: 8 },
  });
  span.event({ id: `v3-event-${run}`, name: "cache-miss", level: "WARNING", input: { key: "france" } });
  span.end({ output: { documents: 2 } });
  root.update({ output: { answer: "Paris" } });
  root.score({ id: `v3-score-quality-${run}`, name: "quality", value: 0.9, dataType: "NUMERIC", comment: "good" });
  answer.score({ id: `v3-score-tone-${run}`, name: "tone", value: "neutral", dataType: "CATEGORICAL" });
  await finish(langfuse, errors);
  return {
    traceId: root.id,
    spanId: span.id,
    draftId: draft.id,
    answerId: answer.id,
    eventId: `v3-event-${run}`,
    firstToken: firstToken.toISOString(),
    scoreIds: { quality: `v3-score-quality-${run}`, tone: `v3-score-tone-${run}` },
  };
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

// The prompts were created through the REST API by the test: text-<run> (v1 production, v2
// staging) and chat-<run> (v1 production).
async function prompts(run) {
  const { langfuse, errors } = client();
  const textName = `text-${run}`;
  const production = await langfuse.getPrompt(textName, undefined, { cacheTtlSeconds: 0 });
  const staging = await langfuse.getPrompt(textName, undefined, { label: "staging", cacheTtlSeconds: 0 });
  const second = await langfuse.getPrompt(textName, 2, { cacheTtlSeconds: 0 });
  const chat = await langfuse.getPrompt(`chat-${run}`, undefined, { type: "chat", cacheTtlSeconds: 0 });
  const root = langfuse.trace({ id: `v3-prompt-trace-${run}`, name: `js-v3-prompt-${run}` });
  const generation = root.generation({
    id: `v3-prompt-gen-${run}`,
    name: "with-prompt",
    model: "gpt-4o",
    prompt: chat,
    input: chat.compile({ city: "Lyon" }),
  });
  generation.end({ output: "Lyon is in France." });
  await finish(langfuse, errors);
  return {
    production: describePrompt(production, production.compile({ city: "Paris" })),
    staging: describePrompt(staging, staging.compile({ city: "Paris" })),
    second: describePrompt(second, second.compile({ city: "Paris" })),
    chat: describePrompt(chat, chat.compile({ city: "Lyon" })),
    traceId: root.id,
    generationId: generation.id,
  };
}

async function datasets(run) {
  const { langfuse, errors } = client();
  const name = `js-v3-dataset-${run}`;
  const created = await langfuse.createDataset({ name, description: "capitals", metadata: { run } });
  await langfuse.createDatasetItem({
    datasetName: name,
    id: `v3-item-a-${run}`,
    input: { country: "France" },
    expectedOutput: { capital: "Paris" },
    metadata: { difficulty: "easy" },
  });
  await langfuse.createDatasetItem({
    datasetName: name,
    id: `v3-item-b-${run}`,
    input: { country: "Peru" },
    expectedOutput: { capital: "Lima" },
    status: "ARCHIVED",
  });
  const dataset = await langfuse.getDataset(name);
  const runName = `run-${run}`;
  const linked = [];
  for (const item of dataset.items) {
    const root = langfuse.trace({ id: `v3-run-${item.id}`, name: "capital-task", input: item.input });
    root.update({ output: { capital: item.expectedOutput.capital } });
    await item.link(root, runName, { description: "v3 run" });
    linked.push({ itemId: item.id, traceId: root.id });
  }
  await finish(langfuse, errors);
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
    runName,
    linked,
  };
}

scenario({ trace, prompts, datasets });
