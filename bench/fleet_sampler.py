"""What a running fleet looks like every `interval` seconds: the owner's queue, each process's RSS, the owner's
threads' CPU (threads may end before the run does) and the PostgreSQL backends' CPU."""

from __future__ import annotations

import contextlib
import threading
import time
from typing import TYPE_CHECKING

import httpx
from procstats import status_kb, task_cpu_s
from run import PUBLIC_KEY, SECRET_KEY
from sender import percentile

if TYPE_CHECKING:
    from cpu import PgBackends
    from fleet import Node


class Sampler:
    """Every `interval` s, in a thread: the owner's queue, every process's RSS, the PostgreSQL backends."""

    def __init__(self, owner: Node, rss_pids: dict[str, int], pg: PgBackends | None, interval: float) -> None:
        self.url = f"{owner.base}/api/public/status"
        self.owner_pid = owner.pid
        self.owner_tasks: dict[int, tuple[str, float]] = {}
        self.rss_pids = rss_pids
        self.pg = pg
        self.interval = interval
        # (perf_counter, depth, in flight, oldest age, dead letters)
        self.samples: list[tuple[float, int, int, float | None, int]] = []
        self.errors: list[str] = []
        self.peak_rss_mb: dict[str, float] = {}
        self.role: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scaleout-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def latest(self) -> tuple[float, int, int, float | None, int] | None:
        return self.samples[-1] if self.samples else None

    def _run(self) -> None:
        with httpx.Client(auth=(PUBLIC_KEY, SECRET_KEY), timeout=10) as client:
            next_at = time.perf_counter()
            while not self._stop.is_set():
                self._sample(client)
                next_at += self.interval
                self._stop.wait(max(0.0, next_at - time.perf_counter()))

    def _sample(self, client: httpx.Client) -> None:
        try:
            body = client.get(self.url).raise_for_status().json()
            q = body["queue"]
            self.role = body.get("role")
            self.samples.append(
                (time.perf_counter(), int(q["depth"]), int(q["inFlight"]), q["oldestAgeSeconds"], int(q["deadLetters"]))
            )
        except (httpx.HTTPError, KeyError, ValueError, TypeError) as exc:
            if len(self.errors) < 5:
                self.errors.append(f"{type(exc).__name__}: {exc}"[:200])
        # Threads may end before the run does (chDB's pools shrink): keep their last CPU reading.
        self.owner_tasks.update(task_cpu_s(self.owner_pid))
        for name, pid in self.rss_pids.items():
            rss = status_kb(pid, "VmRSS")
            if rss is not None:
                self.peak_rss_mb[name] = max(self.peak_rss_mb.get(name, 0.0), rss / 1024)
        if self.pg is not None:
            with contextlib.suppress(Exception):
                self.pg.poll()

    def summary(self, t0: float, t1: float) -> dict:
        window = [s for s in self.samples if t0 <= s[0] <= t1]
        # An empty queue reports no oldest job: its lag is 0.
        ages = [s[3] or 0.0 for s in window]
        return {
            "interval_s": self.interval,
            "samples": len(window),
            "role": self.role,
            "max_depth": max((s[1] for s in window), default=None),
            "max_in_flight": max((s[2] for s in window), default=None),
            "max_backlog": max((s[1] + s[2] for s in window), default=None),
            "max_dead_letters": max((s[4] for s in window), default=None),
            "oldest_age_s": {"p50": percentile(ages, 50), "p95": percentile(ages, 95), "max": max(ages, default=None)},
            "errors": self.errors,
            "timeline": [(round(s[0] - t0, 2), s[1], s[2], s[3]) for s in window][:4000],
        }
