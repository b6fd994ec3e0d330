"""The README's OpenTelemetry snippets (docs/integrations/otel-*.py), run unchanged as a user would,
configured only by the standard OTEL_EXPORTER_OTLP_* variables: OTLP/HTTP and OTLP/gRPC."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from tests.integration.api.builders import wait_trace
from tests.support.server import SpyglassServer

SNIPPETS = Path(__file__).resolve().parents[3] / "docs" / "integrations"


def run_snippet(name: str, env: dict[str, str]) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LANGFUSE_"))}
    done = subprocess.run([sys.executable, str(SNIPPETS / name)], env={**clean, **env}, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    match = re.search(r"trace ([0-9a-f]{32})", done.stdout)
    assert match, done.stdout
    return match.group(1)


def header(server: SpyglassServer, name: str) -> str:
    token = base64.b64encode(f"{server.keys.public_key}:{server.keys.secret_key}".encode()).decode()
    return f"{name}={quote('Basic ' + token)}"


@pytest.mark.parametrize("snippet", ["otel-http.py", "otel-grpc.py"])
def test_the_readme_otel_snippet_reaches_spyglass(grpc_server: SpyglassServer, snippet: str) -> None:
    if snippet == "otel-http.py":
        env = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{grpc_server.base_url}/api/public/otel/v1/traces",
               "OTEL_EXPORTER_OTLP_TRACES_HEADERS": header(grpc_server, "Authorization")}
    else:
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{grpc_server.serve_args[1]}",
               "OTEL_EXPORTER_OTLP_HEADERS": header(grpc_server, "authorization")}
    trace_id = run_snippet(snippet, env)

    with grpc_server.client() as client:
        trace = wait_trace(client, trace_id, lambda t: len(t["observations"]) == 1)
    [generation] = trace["observations"]
    assert (generation["type"], generation["name"], generation["model"]) == ("GENERATION", "chat gpt-4o-mini",
                                                                           "gpt-4o-mini")
    assert generation["usageDetails"] == {"input": 14, "output": 1, "total": 15}
