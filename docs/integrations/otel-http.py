# Any OpenTelemetry SDK, no Langfuse package: OTLP/HTTP into Spyglass, configured the standard way:
#   OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://127.0.0.1:3000/api/public/otel/v1/traces
#   AUTH=$(echo -n "$LANGFUSE_PUBLIC_KEY:$LANGFUSE_SECRET_KEY" | base64 -w0)
#   OTEL_EXPORTER_OTLP_TRACES_HEADERS="Authorization=Basic%20$AUTH"
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

provider = TracerProvider()
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
tracer = provider.get_tracer("my-app")

with tracer.start_as_current_span("chat gpt-4o-mini") as span:
    span.set_attribute("gen_ai.operation.name", "chat")
    span.set_attribute("gen_ai.request.model", "gpt-4o-mini")
    span.set_attribute("gen_ai.usage.input_tokens", 14)
    span.set_attribute("gen_ai.usage.output_tokens", 1)
    print(f"trace {span.get_span_context().trace_id:032x}")

provider.shutdown()  # flushes the batch
