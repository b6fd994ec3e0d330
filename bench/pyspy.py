"""py-spy on a running Spyglass process: its Python threads' names, and where they spend their wall-clock time."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from processes import stop_process

PYSPY = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")


def thread_names(pid: int) -> dict[int, str]:
    """OS thread id → Python thread name, from `py-spy dump` (empty without py-spy)."""
    if not PYSPY:
        return {}
    try:
        out = subprocess.run(
            [PYSPY, "dump", "--pid", str(pid), "--json", "--nonblocking"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
        return {t["os_thread_id"]: t["thread_name"] or "?" for t in json.loads(out) if t.get("os_thread_id")}
    except (OSError, subprocess.SubprocessError, ValueError, KeyError, TypeError):
        return {}


class Profiler:
    """`py-spy record` on one process until stopped (SIGINT), as speedscope JSON."""

    def __init__(self, name: str, pid: int, out: Path, rate: int) -> None:
        self.name = name
        self.out = out
        with open(out.with_suffix(".log"), "wb") as log:
            self.proc = subprocess.Popen(
                [
                    PYSPY,
                    "record",
                    "--pid",
                    str(pid),
                    "--rate",
                    str(rate),
                    "--nonblocking",
                    "--idle",
                    "--format",
                    "speedscope",
                    "--output",
                    str(out),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop(self) -> None:
        if self.proc.poll() is None:
            stop_process(self.proc, 60, "py-spy", signal.SIGINT)


def summarize_speedscope(path: Path, top: int = 10) -> dict:
    """Per Python thread (pool threads of one name together): where its wall-clock time goes.

    py-spy records with --idle, so a thread's samples are its wall time, waiting included.
    `inclusive`: share of the thread's samples inside one of Spyglass's own functions (any line
    of it). Left out: the frames nearly every sample passes through (the worker's loop), and a
    function whose samples are nearly all those of one already listed (a wrapper and what it
    wraps). `own`: share with a function, anyone's, at the top of the Python stack (C code
    below it included: waiting on a lock, a socket, chDB).
    """
    doc = json.loads(path.read_text())
    frames = doc["shared"]["frames"]
    keys = [(f["name"], "/".join(Path(f.get("file") or "?").parts[-2:])) for f in frames]
    ours = {i for i, f in enumerate(frames) if "/spyglass/" in (f.get("file") or "")}
    threads: dict[str, dict] = {}
    for prof in doc["profiles"]:
        quoted = re.search(r'"(.*)"', prof.get("name", ""))
        name = re.sub(r"[_-]\d+$", "", quoted.group(1)) if quoted and quoted.group(1) else prof.get("name", "?")
        t = threads.setdefault(
            name, {"threads": 0, "samples": 0, "own": Counter(), "inclusive": Counter(), "stacks": []}
        )
        t["threads"] += 1
        for stack in prof["samples"]:
            t["samples"] += 1
            if stack:
                t["own"][keys[stack[-1]]] += 1
                mine = frozenset(keys[i] for i in stack if i in ours)
                t["inclusive"].update(mine)
                t["stacks"].append(mine)
    out = {}
    for name, t in sorted(threads.items(), key=lambda kv: -kv[1]["samples"]):
        n = t["samples"] or 1
        inclusive: list[tuple[tuple[str, str], int]] = []
        for k, c in t["inclusive"].most_common():
            if len(inclusive) == top:
                break
            if c >= 0.95 * n or any(
                sum(1 for st in t["stacks"] if k in st and j in st) >= 0.95 * max(c, cj) for j, cj in inclusive
            ):
                continue
            inclusive.append((k, c))
        out[name] = {
            "threads": t["threads"],
            "samples": t["samples"],
            **{
                kind: [{"function": f"{k[0]} ({k[1]})", "share": round(c / n, 3)} for k, c in ranked]
                for kind, ranked in (("inclusive", inclusive), ("own", t["own"].most_common(top)))
            },
        }
    return out
