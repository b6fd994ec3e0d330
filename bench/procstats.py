"""Server-side resource measurements (Linux /proc) and a description of the machine."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import threading
from pathlib import Path


def status_kb(pid: int, field: str, file: str = "status") -> int | None:
    """One `Field:  N kB` line of /proc/<pid>/status (or smaps_rollup), or None if the process or line is gone."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path(f"/proc/{pid}/{file}").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


def _descendants(pid: int) -> list[int]:
    """pid and all its descendants (a server may fork workers or helper processes)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The comm field may contain spaces/parentheses: ppid is the 2nd field after the last ')'.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, ()))
    return out


def redis_server_pids(port: int) -> list[int]:
    """The redis-server processes serving `port`."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != "redis-server":
                continue
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if f":{port}" in cmdline or "--port" not in cmdline:  # `redis-server *:6379` or a config file
            pids.append(int(entry.name))
    return pids


_TICK = os.sysconf("SC_CLK_TCK")


def _stat_cpu_s(stat: str) -> float:
    """utime + stime from the text of /proc/<pid>/stat or /proc/<pid>/task/<tid>/stat."""
    # The comm field may contain spaces/parentheses: count the fields after the last ')'.
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def proc_cpu_s(pid: int) -> float | None:
    """utime + stime of a process (all its threads, live and exited), or None if it is gone."""
    try:
        return _stat_cpu_s(Path(f"/proc/{pid}/stat").read_text())
    except (OSError, IndexError, ValueError):
        return None


def task_cpu_s(pid: int) -> dict[int, tuple[str, float]]:
    """Per live thread of one process: (OS thread name without trailing digits, CPU seconds).

    From schedstat (nanoseconds on a CPU): the threads' utime + stime in /proc/<pid>/task/*/stat
    are rounded per thread and under a load of many threads sum to ~7% less than the process's.
    """
    out = {}
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                comm = (task / "comm").read_text().strip().rstrip("0123456789") or "?"
                out[int(task.name)] = (comm, int((task / "schedstat").read_text().split()[0]) / 1e9)
            except (OSError, IndexError, ValueError):
                continue
    return out


def thread_cpu_s(pid: int) -> dict[str, float]:
    """CPU seconds per thread name (comm) over a process tree, plus "(process total)".

    CPython leaves its threads' OS names alone, so all Python threads share the process
    name; chDB's engine threads carry ClickHouse's names (merges, pipelines, I/O pools).
    The total includes threads that have already exited.
    """
    out: dict[str, float] = {}
    for proc in _descendants(pid):
        try:
            out["(process total)"] = out.get("(process total)", 0.0) + _stat_cpu_s(
                Path(f"/proc/{proc}/stat").read_text()
            )
            tasks = list(Path(f"/proc/{proc}/task").iterdir())
        except (OSError, IndexError, ValueError):
            continue
        for task in tasks:
            try:
                name = (task / "comm").read_text().strip().rstrip("0123456789")
                stat = (task / "stat").read_text()
            except OSError:
                continue
            out[name] = out.get(name, 0.0) + _stat_cpu_s(stat)
    return out


def machine_busy_s() -> tuple[float, float]:
    """(CPU seconds all cores ran anything, seconds the hypervisor gave our vCPUs away) since boot."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = (
        int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    )
    return (user + nice + system + irq + softirq) / _TICK, steal / _TICK


class RssSampler:
    """Samples the summed VmRSS of a process tree in a background thread.

    VmHWM (the kernel's exact high-water mark) is only per process and includes start-up,
    so both are reported: the sampled tree peak during the run and the main process's HWM.
    """

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_kb = 0
        self.start_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._cpu_start: dict[str, float] = {}
        self.cpu_s: dict[str, float] = {}

    def tree_rss_kb(self) -> int:
        return sum(status_kb(p, "VmRSS") or 0 for p in _descendants(self.pid))

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_kb = max(self.peak_kb, self.tree_rss_kb())
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        if not Path(f"/proc/{self.pid}").exists():
            raise SystemExit(f"--server-pid {self.pid}: no such process")
        self.start_kb = self.tree_rss_kb()
        self._cpu_start = thread_cpu_s(self.pid)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_kb = max(self.peak_kb, self.tree_rss_kb())
        end = thread_cpu_s(self.pid)
        self.cpu_s = {k: round(v - self._cpu_start.get(k, 0.0), 2) for k, v in end.items()}

    def result(self) -> dict:
        return {
            "pid": self.pid,
            "rss_start_mb": round(self.start_kb / 1024, 1),
            "peak_rss_mb": round(self.peak_kb / 1024, 1),
            "vmhwm_mb": round((status_kb(self.pid, "VmHWM") or 0) / 1024, 1),
            # Threads that started and ended inside the run only count in the total.
            "cpu_s": dict(sorted(self.cpu_s.items(), key=lambda kv: -kv[1])),
        }


def disk_usage(path: str | Path) -> dict:
    """Allocated bytes (what the disk really holds) and apparent bytes under ``path``."""
    allocated = apparent = files = 0
    for root, _dirs, names in os.walk(path):
        for name in names:
            try:
                st = os.lstat(os.path.join(root, name))
            except FileNotFoundError:  # the server may delete parts while we walk
                continue
            allocated += st.st_blocks * 512
            apparent += st.st_size
            files += 1
    return {"allocated_bytes": allocated, "apparent_bytes": apparent, "files": files}


def _git(*args: str) -> str | None:
    try:
        return subprocess.run(
            ["git", *args], capture_output=True, text=True, check=True, cwd=Path(__file__).parent, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def machine_info() -> dict:
    mem_kb = cpu = None
    try:
        mem_kb = int(next(ln for ln in open("/proc/meminfo") if ln.startswith("MemTotal")).split()[1])
        cpu = next(ln for ln in open("/proc/cpuinfo") if ln.startswith("model name")).split(":", 1)[1].strip()
    except (OSError, StopIteration):
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu,
        "mem_total_mb": mem_kb // 1024 if mem_kb else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git_commit": _git("rev-parse", "--short", "HEAD"),
        # Uncommitted or untracked changes under src/: the run measured code the commit does not hold.
        "git_src_dirty": None if (st := _git("status", "--porcelain", "--", ":/src")) is None else bool(st),
    }
