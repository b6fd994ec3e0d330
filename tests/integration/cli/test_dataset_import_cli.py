"""`spyglass dataset import` through the real CLI, against the stores of a running server:
bad rows are listed and skipped (exit 1), a clean file exits 0, an unknown dataset imports nothing."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.support.server import SpyglassServer

ITEMS = "/api/public/dataset-items"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SpyglassServer]:
    instance = SpyglassServer(data_dir=tmp_path_factory.mktemp("dataset-cli") / "data").start()
    yield instance
    instance.stop()


@pytest.fixture(scope="module")
def client(server: SpyglassServer) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c


def spyglass(server: SpyglassServer, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI with the server's stores (like `create_project`), minus the provisioning variables."""
    env = {k: v for k, v in server.env().items() if not k.startswith("LANGFUSE_INIT_")}
    env["COLUMNS"] = "250"
    return subprocess.run([sys.executable, "-m", "spyglass", *args], env=env, capture_output=True, text=True,
                          timeout=120)


def import_file(server: SpyglassServer, path: Path, name: str, *extra: str,
                project: str | None = None) -> subprocess.CompletedProcess[str]:
    return spyglass(server, "dataset", "import", str(path), "--name", name,
                    "--project", project or server.keys.project_id, *extra)


def new_dataset(client: httpx.Client, **body: object) -> str:
    name = f"cli/{uuid.uuid4().hex[:10]}"
    response = client.post("/api/public/v2/datasets", json={"name": name, **body})
    assert response.status_code == 200, response.text
    return name


def listed(client: httpx.Client, name: str) -> list[dict]:
    response = client.get(ITEMS, params={"datasetName": name, "limit": 100})
    assert response.status_code == 200, response.text
    return response.json()["data"]


def test_jsonl_with_a_bad_row(server: SpyglassServer, client: httpx.Client, tmp_path: Path) -> None:
    name = new_dataset(client, inputSchema={"type": "object", "required": ["question"]})
    path = tmp_path / "items.jsonl"
    path.write_text("\n".join([
        json.dumps({"id": "cli-1", "input": {"question": "one"}, "expectedOutput": "1"}),
        json.dumps({"input": {"question": "two"}, "metadata": {"source": "cli"}}),
        json.dumps({"input": {"answer": "no question"}}),
        "",
        json.dumps({"id": "cli-4", "input": {"question": "four"}, "status": "ARCHIVED"}),
    ]) + "\n")

    result = import_file(server, path, name)
    assert result.returncode == 1, result.stderr
    assert f"3 item(s) imported into dataset '{name}'." in result.stdout
    assert "1 row(s) skipped" in result.stdout
    problem = "input does not match the dataset's schema at $: 'question' is a required property"
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in result.stdout.splitlines() if "│" in line]
    assert rows == [["3", problem]], result.stdout

    items = listed(client, name)
    assert [(item["input"], item["expectedOutput"], item["metadata"]) for item in items] == [
        ({"question": "two"}, None, {"source": "cli"}), ({"question": "one"}, "1", None)]
    assert items[1]["id"] == "cli-1"
    archived = client.get(f"{ITEMS}/cli-4")
    assert archived.status_code == 200, archived.text
    assert archived.json()["status"] == "ARCHIVED"


def test_a_large_file_with_many_bad_rows(server: SpyglassServer, client: httpx.Client, tmp_path: Path) -> None:
    name = new_dataset(client)
    bad_rows = set(range(40, 1101, 40))  # 27 rows, spread over every chunk of 500
    path = tmp_path / "big.jsonl"
    path.write_text("\n".join("{broken" if n in bad_rows else json.dumps({"input": n}) for n in range(1, 1101)))

    result = import_file(server, path, name)
    assert result.returncode == 1, result.stderr
    assert f"{1100 - len(bad_rows)} item(s) imported into dataset '{name}'." in result.stdout
    assert f"{len(bad_rows)} row(s) skipped" in result.stdout
    shown = [line.split("│")[1].strip() for line in result.stdout.splitlines() if "│" in line]
    assert shown == [str(n) for n in sorted(bad_rows)[:20]]
    assert f"… and {len(bad_rows) - 20} more." in result.stdout
    total = client.get(ITEMS, params={"datasetName": name, "limit": 1}).json()["meta"]["totalItems"]
    assert total == 1100 - len(bad_rows)


def test_a_clean_csv(server: SpyglassServer, client: httpx.Client, tmp_path: Path) -> None:
    name = new_dataset(client)
    path = tmp_path / "items.csv"
    path.write_text('input,expected_output,id\n"{""q"": 1}",yes,csv-a\nplain,"[1, 2]",\n42,,\n')

    result = import_file(server, path, name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"3 item(s) imported into dataset '{name}'." in result.stdout
    assert "skipped" not in result.stdout
    assert [(i["input"], i["expectedOutput"]) for i in listed(client, name)] == [
        (42, None), ("plain", [1, 2]), ({"q": 1}, "yes")]
    assert listed(client, name)[2]["id"] == "csv-a"


def test_the_format_option_wins_over_the_extension(server: SpyglassServer, client: httpx.Client,
                                                   tmp_path: Path) -> None:
    name = new_dataset(client)
    path = tmp_path / "items.txt"
    path.write_text('{"input": "from txt"}\n')
    unknown = import_file(server, path, name)
    assert unknown.returncode == 2
    assert "cannot tell the format of items.txt: pass --format csv or --format jsonl" in unknown.stderr
    assert listed(client, name) == []

    result = import_file(server, path, name, "--format", "jsonl")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 item(s) imported" in result.stdout
    assert [i["input"] for i in listed(client, name)] == ["from txt"]


def test_an_unknown_dataset_imports_nothing(server: SpyglassServer, client: httpx.Client, tmp_path: Path) -> None:
    marker = f"marker-{uuid.uuid4().hex}"
    path = tmp_path / "items.jsonl"
    path.write_text(json.dumps({"input": 1, "sourceTraceId": marker}) + "\n")

    result = import_file(server, path, f"no-such-dataset-{uuid.uuid4().hex[:8]}")
    assert result.returncode == 1
    assert "Error: Dataset not found (nothing was imported)" in result.stderr
    assert "imported into" not in result.stdout
    assert client.get(ITEMS, params={"sourceTraceId": marker}).json()["data"] == []

    # A dataset of this project is not found from another project id either.
    name = new_dataset(client)
    elsewhere = import_file(server, path, name, project=f"proj-{uuid.uuid4().hex[:8]}")
    assert elsewhere.returncode == 1
    assert "Dataset not found" in elsewhere.stderr
    assert listed(client, name) == []


def test_an_unknown_csv_column_imports_nothing(server: SpyglassServer, client: httpx.Client, tmp_path: Path) -> None:
    name = new_dataset(client)
    path = tmp_path / "items.csv"
    path.write_text("input,colour\n1,red\n")
    result = import_file(server, path, name)
    assert result.returncode == 1
    assert "Error: Unknown CSV columns: colour" in result.stderr
    assert "(nothing was imported)" in result.stderr
    assert listed(client, name) == []


def test_help(server: SpyglassServer) -> None:
    group = spyglass(server, "dataset", "--help")
    assert group.returncode == 0, group.stderr
    assert "import" in group.stdout
    command = spyglass(server, "dataset", "import", "--help")
    assert command.returncode == 0, command.stderr
    for option in ("--name", "--project", "--format"):
        assert option in command.stdout
    missing = spyglass(server, "dataset", "import", "does-not-exist.jsonl", "--name", "x", "--project", "p")
    assert missing.returncode == 2
    assert "does not exist" in missing.stderr
