"""Fixtures for the JS/TS SDK tests: the npm packages pinned in tests/js, and a runner for its Node scripts.

The packages are installed by `npm ci` into tests/js/node_modules (git-ignored) on first use, and
again whenever package-lock.json changes, so a fresh clone needs nothing but Node 20+ and npm.
Without them the tests are skipped, or fail when SPYGLASS_REQUIRE_SERVICES=1 (as in CI).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.server import SpyglassServer

JS_DIR = Path(__file__).resolve().parents[1] / "js"
NODE_MIN_MAJOR = 20
RESULT_MARKER = "SPYGLASS_RESULT "  # tests/js/report.mjs
# Written after a successful `npm ci`: the sha256 of the package-lock.json it installed.
INSTALL_STAMP = JS_DIR / "node_modules" / ".spyglass-installed-lock"
NPM_CI_TIMEOUT = 600.0
SCRIPT_TIMEOUT = 120.0

RunNode = Callable[..., dict[str, Any]]


def _unavailable(reason: str) -> None:
    if os.environ.get("SPYGLASS_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (required: SPYGLASS_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


def _node_binaries() -> tuple[str, str]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        _unavailable("the JS SDK tests need `node` (20+) and `npm` on PATH")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    if int(version.lstrip("v").split(".")[0]) < NODE_MIN_MAJOR:
        _unavailable(f"the JS SDK tests need Node {NODE_MIN_MAJOR}+, found {version}")
    return node, npm


def _install(npm: str) -> None:
    """`npm ci` from the lockfile, unless node_modules already holds exactly that lockfile's tree."""
    digest = hashlib.sha256((JS_DIR / "package-lock.json").read_bytes()).hexdigest()
    if INSTALL_STAMP.is_file() and INSTALL_STAMP.read_text() == digest:
        return
    # --ignore-scripts: nothing in the tree needs a build step (protobufjs' postinstall only checks versions).
    completed = subprocess.run(
        [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=JS_DIR, capture_output=True, text=True, timeout=NPM_CI_TIMEOUT,
    )
    if completed.returncode != 0:
        pytest.fail(f"`npm ci` in {JS_DIR} failed ({completed.returncode}):\n{completed.stdout}\n{completed.stderr}")
    INSTALL_STAMP.write_text(digest)


@pytest.fixture(scope="session")
def node() -> str:
    """The `node` binary, with tests/js/node_modules installed from the lockfile."""
    node, npm = _node_binaries()
    _install(npm)
    return node


def node_env(server: SpyglassServer, extra: dict[str, str]) -> dict[str, str]:
    """The process environment less any Langfuse/OTel/Spyglass settings, plus the server's keys and URL."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LANGFUSE_", "OTEL_", "SPYGLASS_")) and k != "NODE_OPTIONS"}
    env.update(
        LANGFUSE_PUBLIC_KEY=server.keys.public_key,
        LANGFUSE_SECRET_KEY=server.keys.secret_key,
        LANGFUSE_BASE_URL=server.base_url,
    )
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def run_node(node: str, server: SpyglassServer) -> RunNode:
    """Run a Node script against the module's server; return its SPYGLASS_RESULT JSON (+ its stdout).

    `preload=True` runs the script through tests/js/snippet.mjs (packages resolved from tests/js,
    exchanges recorded), for files outside tests/js such as docs/integrations/*.mjs.
    """

    def run(script: Path, *args: str, env: dict[str, str] | None = None, preload: bool = False) -> dict[str, Any]:
        command = [node, *(["--import", (JS_DIR / "snippet.mjs").as_uri()] if preload else []), str(script), *args]
        completed = subprocess.run(command, cwd=JS_DIR, env=node_env(server, env or {}), capture_output=True,
                                   text=True, timeout=SCRIPT_TIMEOUT)
        output = f"stdout:\n{completed.stdout}\nstderr:\n{completed.stderr}"
        assert completed.returncode == 0, f"{' '.join(command)} exited {completed.returncode}\n{output}"
        results = [line[len(RESULT_MARKER):] for line in completed.stdout.splitlines()
                   if line.startswith(RESULT_MARKER)]
        assert len(results) == 1, f"expected one {RESULT_MARKER.strip()} line\n{output}"
        return {**json.loads(results[0]), "stdout": completed.stdout}

    return run


@pytest.fixture(scope="module")
def http(server: SpyglassServer) -> Iterator[httpx.Client]:
    """Raw HTTP client (Basic auth of the provisioned project) for reading back exact JSON."""
    with server.client() as client:
        yield client
