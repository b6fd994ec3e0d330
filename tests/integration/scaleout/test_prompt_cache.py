"""Prompt reads across a fleet: every process answers from the Redis cache, and a write
through any one of them is visible to the next read through all of them."""

from __future__ import annotations

from urllib.parse import quote

from tests.integration.api.builders import uid

V2 = "/api/public/v2/prompts"


def test_a_label_move_through_one_process_is_read_at_once_through_another(fleet) -> None:  # noqa: ANN001
    owner, api = fleet.owner(), fleet.api()
    name = f"fleet/{uid()[:8]}"
    path = f"{V2}/{quote(name, safe='')}"
    with owner.client() as via_owner, api.client() as via_api:
        assert via_api.post(V2, json={"name": name, "prompt": "one", "labels": ["production"]}).status_code == 201
        assert via_owner.post(V2, json={"name": name, "prompt": "two"}).status_code == 201
        # Both processes have read (and cached) the production version.
        assert via_api.get(path).json()["prompt"] == "one"
        assert via_owner.get(path).json()["prompt"] == "one"
        assert via_api.get(path, params={"label": "missing"}).status_code == 404

        moved = via_owner.patch(f"{path}/versions/2", json={"newLabels": ["production", "missing"]})
        assert moved.status_code == 200, moved.text
        for _ in range(3):
            assert via_api.get(path).json()["prompt"] == "two"
            assert via_api.get(path, params={"label": "missing"}).json()["version"] == 2

        assert via_api.delete(path, params={"version": 2}).status_code == 204
        assert via_owner.get(path, params={"label": "latest"}).json()["version"] == 1
        assert via_owner.get(path).status_code == 404
