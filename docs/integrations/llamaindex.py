# LlamaIndex through OpenInference's instrumentation, exported over OTLP/HTTP (no Langfuse package):
#   OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:3000/api/public/otel
#   AUTH=$(echo -n "$LANGFUSE_PUBLIC_KEY:$LANGFUSE_SECRET_KEY" | base64 -w0)
#   OTEL_EXPORTER_OTLP_HEADERS="Authorization=Basic%20$AUTH"
#   OPENAI_API_KEY (OPENAI_API_BASE for another OpenAI-compatible endpoint)
from llama_index.core import Document, Settings, VectorStoreIndex
from llama_index.llms.openai import OpenAI
from openinference.instrumentation.llama_index import LlamaIndexInstrumentor
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

tracer_provider = TracerProvider()
tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
LlamaIndexInstrumentor().instrument(tracer_provider=tracer_provider)

Settings.llm = OpenAI(model="gpt-4o-mini")
index = VectorStoreIndex.from_documents([
    Document(text="Spyglass stores traces, prompts and datasets."),
    Document(text="Sea otters hold hands while they sleep."),
])
print(index.as_query_engine(similarity_top_k=1).query("What do otters do while they sleep?"))
tracer_provider.shutdown()  # send the remaining spans before the process exits
