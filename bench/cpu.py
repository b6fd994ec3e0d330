"""Where the fleet's CPU goes: per process from /proc, the owner split by thread, the PostgreSQL backends.

Two `Snapshot`s bracket the measured window; `cpu_breakdown` turns them into seconds per component
(each Spyglass process, moto, redis-server, the scratch database's backends, the load generator,
the whole machine) and the owner's seconds per thread group (web, worker, chDB).
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from dataclasses import dataclass

from procstats import machine_busy_s, proc_cpu_s, task_cpu_s

OWNER_GROUPS = ("web", "worker", "chDB", "other")


def thread_group(python_name: str | None, comm: str, named: bool) -> tuple[str, str]:
    """(group, label) of one owner thread; `named`: Python's thread names are known (py-spy dump).

    Python threads keep the process's OS name, so without py-spy they cannot be told from the
    native threads that never set one: they land in the "python" group.
    """
    if python_name is None:
        if comm in ("spyglass", "python", "python3"):  # kept the process name
            return ("other", f"native, unnamed ({comm})") if named else ("python", "Python threads (unnamed)")
        return "chDB", f"chDB {comm}"
    if python_name == "MainThread":
        return "web", "MainThread (event loop)"
    if python_name.startswith("AnyIO worker"):
        return "web", "AnyIO worker threads (request handlers)"
    if python_name.startswith("spyglass-worker"):
        return "worker", "spyglass-worker (take, merge)"
    if python_name.startswith("spyglass-writer"):
        return "worker", "spyglass-writer (OLAP write, incl. chDB in this thread)"
    if python_name.startswith("olap-insert"):
        return "worker", "olap-insert (tables inserted side by side, incl. chDB)"
    if python_name.startswith("olap-read"):
        return "web", "olap-read (reads side by side, incl. chDB)"
    return "other", f"python: {python_name}"


class PgBackends:
    """CPU of the PostgreSQL backends serving the scratch database (they come and go with the pools)."""

    def __init__(self, admin_url: str, dbname: str) -> None:
        import psycopg

        self.dbname = dbname
        self.conn = psycopg.connect(admin_url, autocommit=True, connect_timeout=5)
        self.lock = threading.Lock()
        self.at_start: dict[int, float] = {}
        self.last: dict[int, float] = {}

    def poll(self) -> None:
        with self.lock:
            rows = self.conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (self.dbname,)).fetchall()
        for (pid,) in rows:
            cpu = proc_cpu_s(pid)
            if cpu is not None:
                self.last[pid] = cpu

    def begin(self) -> None:
        self.poll()
        self.at_start = dict(self.last)

    def cpu_s(self) -> float:
        # A backend born during the run counts from zero; one that ended loses at most a poll interval.
        return sum(cpu - self.at_start.get(pid, 0.0) for pid, cpu in self.last.items())

    def close(self) -> None:
        self.conn.close()


@dataclass
class Snapshot:
    at: float
    machine_s: tuple[float, float]
    procs: dict[str, float | None]
    owner_tasks: dict[int, tuple[str, float]]
    redis: dict[int, float | None]
    self_s: float

    @classmethod
    def take(cls, pids: dict[str, int], redis_pids: list[int]) -> Snapshot:
        """`pids`: the measured processes by name, among them the "owner"."""
        return cls(
            time.perf_counter(),
            machine_busy_s(),
            {name: proc_cpu_s(pid) for name, pid in pids.items()},
            task_cpu_s(pids["owner"]),
            {pid: proc_cpu_s(pid) for pid in redis_pids},
            proc_cpu_s(os.getpid()) or 0.0,
        )


def _delta(a: float | None, b: float | None) -> float:
    return max(0.0, (b or 0.0) - (a or 0.0)) if a is not None and b is not None else 0.0


def cpu_breakdown(
    s0: Snapshot,
    s1: Snapshot,
    sampled_tasks: dict[int, tuple[str, float]],
    names: dict[int, str],
    pg: PgBackends | None,
    pyspy_s: float,
) -> dict:
    """CPU seconds per component over the window, the owner split by thread group."""
    wall = s1.at - s0.at
    threads: Counter[str] = Counter()
    groups: Counter[str] = Counter()
    for tid, (comm, cpu) in (sampled_tasks | s1.owner_tasks).items():
        group, label = thread_group(names.get(tid), comm, bool(names))
        spent = cpu - s0.owner_tasks.get(tid, (comm, 0.0))[1]
        threads[label] += spent
        groups[group] += spent
    owner_total = _delta(s0.procs["owner"], s1.procs["owner"])
    exited = owner_total - sum(groups.values())
    if exited > 0.005:
        threads["threads that ended between samples"] += exited
        groups["other"] += exited
    components: dict[str, float] = {name: _delta(s0.procs.get(name), cpu) for name, cpu in s1.procs.items()}
    if s0.redis:
        components["redis-server"] = sum(_delta(s0.redis.get(p), c) for p, c in s1.redis.items())
    if pg is not None:
        components["postgres"] = pg.cpu_s()
    components["loadgen"] = max(0.0, s1.self_s - s0.self_s)
    if pyspy_s:
        components["py-spy"] = pyspy_s
    busy = s1.machine_s[0] - s0.machine_s[0]
    return {
        "window_s": round(wall, 3),
        "machine_busy_s": round(busy, 2),
        "machine_busy_cores": round(busy / wall, 2) if wall else None,
        "machine_steal_s": round(s1.machine_s[1] - s0.machine_s[1], 2),
        "components_s": {k: round(v, 2) for k, v in components.items()},
        "unattributed_s": round(busy - sum(components.values()), 2),
        "owner_groups_s": {g: round(groups.get(g, 0.0), 2) for g in OWNER_GROUPS}
        | ({"python": round(groups["python"], 2)} if "python" in groups else {}),
        "owner_threads_s": {k: round(v, 2) for k, v in threads.most_common()},
        "owner_threads_named_by": "py-spy dump" if names else "OS thread names only (py-spy not installed)",
    }


def us_per_span(cpu: dict, spans: int) -> dict:
    if not spans:
        return {}
    per = {k: round(v * 1e6 / spans, 1) for k, v in cpu["components_s"].items()}
    per.update({f"owner.{g}": round(v * 1e6 / spans, 1) for g, v in cpu["owner_groups_s"].items()})
    per["unattributed"] = round(cpu["unattributed_s"] * 1e6 / spans, 1)
    per["machine"] = round(cpu["machine_busy_s"] * 1e6 / spans, 1)
    return per
