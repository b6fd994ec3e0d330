"""A load that records what the server acknowledged, and the check that all of it is readable once.

Used by the crash and fault tests: writers send Langfuse batches (a trace, two observations
and a score each) until interrupted; afterwards every acknowledged entity must be listed
exactly once, and nothing that was never sent may appear.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from tests.integration.api.builders import INGESTION, list_all, observation, score_create, trace_create, uid
from tests.support.server import SpyglassServer, wait_until

RECOVERY_TIMEOUT = 120.0


@dataclass
class Ledger:
    """What the writers sent and what the server acknowledged (per-event 201 in a 207)."""

    user_id: str = field(default_factory=lambda: f"crash-{uid()}")
    lock: threading.Lock = field(default_factory=threading.Lock)
    sent: dict[str, set[str]] = field(default_factory=lambda: {"trace": set(), "observation": set(), "score": set()})
    acked: dict[str, set[str]] = field(default_factory=lambda: {"trace": set(), "observation": set(), "score": set()})
    batches_acked: int = 0

    def batch(self) -> tuple[list[dict], dict[str, list[str]]]:
        trace_id, span_id, gen_id, score_id = uid(), uid(), uid(), uid()
        events = [trace_create(trace_id, name="crash", userId=self.user_id),
                  observation("span-create", span_id, trace_id, name="s"),
                  observation("generation-create", gen_id, trace_id, parentObservationId=span_id, model="m"),
                  score_create(score_id, "crash-score", 1.0, traceId=trace_id)]
        return events, {"trace": [trace_id], "observation": [span_id, gen_id], "score": [score_id]}

    def record(self, target: dict[str, set[str]], entities: dict[str, list[str]]) -> None:
        with self.lock:
            for kind, values in entities.items():
                target[kind].update(values)


def write_until(server: SpyglassServer, ledger: Ledger, stop: threading.Event) -> None:
    with httpx.Client(base_url=server.base_url, auth=server.keys.auth, timeout=10) as client:
        while not stop.is_set():
            events, entities = ledger.batch()
            ledger.record(ledger.sent, entities)
            try:
                response = client.post(INGESTION, json={"batch": events})
            except httpx.HTTPError:
                if stop.wait(0.05):
                    return
                continue
            if response.status_code != 207:
                continue
            body = response.json()
            if body["errors"] == [] and [s["id"] for s in body["successes"]] == [e["id"] for e in events]:
                ledger.record(ledger.acked, entities)
                with ledger.lock:
                    ledger.batches_acked += 1


def stream(targets: SpyglassServer | list[SpyglassServer], ledger: Ledger, seconds: float,
           interrupt: Callable[[], object]) -> None:
    """Four writers (spread over `targets`) for `seconds`, then `interrupt()` while they are still sending."""
    targets = targets if isinstance(targets, list) else [targets]
    stop = threading.Event()
    threads = [threading.Thread(target=write_until, args=(targets[n % len(targets)], ledger, stop)) for n in range(4)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(seconds)  # the load duration itself, not a wait for a condition
        interrupt()
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)


def assert_everything_acknowledged_is_there_once(server: SpyglassServer, ledger: Ledger) -> None:
    acked, sent = ledger.acked, ledger.sent
    assert ledger.batches_acked > 0 and len(acked["trace"]) == ledger.batches_acked
    with server.client() as client:
        def total(path: str) -> int:
            response = client.get(path, params={"userId": ledger.user_id, "limit": 1})
            return response.json()["meta"]["totalItems"] if response.status_code == 200 else -1

        wait_until(lambda: total("/api/public/traces") >= len(acked["trace"])
                   and total("/api/public/observations") >= len(acked["observation"])
                   and total("/api/public/scores") >= len(acked["score"]), RECOVERY_TIMEOUT, 0.25)
        for path, kind in (("/api/public/traces", "trace"), ("/api/public/observations", "observation"),
                           ("/api/public/scores", "score")):
            rows, meta = list_all(client, path, userId=ledger.user_id)
            listed = [row["id"] for row in rows]
            assert len(listed) == len(set(listed)), f"duplicate {kind}s listed"
            assert meta["totalItems"] == len(listed)
            missing = acked[kind] - set(listed)
            assert not missing, f"{len(missing)} acknowledged {kind}s lost, e.g. {sorted(missing)[:3]}"
            assert set(listed) <= sent[kind], f"{kind}s that were never sent"
        # Spot-check full reads by id: the trace with its two observations and its score.
        for trace_id in sorted(acked["trace"])[:25]:
            trace = client.get(f"/api/public/traces/{trace_id}").json()
            assert len(trace["observations"]) == 2 and len(trace["scores"]) == 1, trace
            assert {o["id"] for o in trace["observations"]} <= acked["observation"]
            assert trace["scores"][0]["id"] in acked["score"]
