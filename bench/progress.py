"""The two progress bars of an ingestion run: sending, then waiting until everything is queryable."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from readback import PollingReadback, ReadbackResult
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from sender import SendStats

OnAck = Callable[[SendStats], None]


def bar_columns() -> tuple:
    """A bench's progress bar: spinner, description, bar, done/total, a text field `info`, elapsed time."""
    return (
        SpinnerColumn(),
        TextColumn("[bold]{task.description:<10}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
    )


def ack_info(st: SendStats) -> str:
    """The sending bar's text: accepted spans/s so far, and the failed spans if any."""
    dt = (st.last_ack_at or 0) - (st.first_request_at or 0)
    rate = f"{st.acked_spans / dt:,.0f} spans/s" if dt > 0 else ""
    errs = f" [red]{st.failed_spans:,} failed[/]" if st.failed_spans else ""
    return rate + errs


async def send_then_read_back(
    console: Console,
    total_spans: int,
    send: Callable[[OnAck], Awaitable[SendStats]],
    readback: PollingReadback | None,
    timeout_s: float,
    poll_interval_s: float,
    extra_info: Callable[[], str] = lambda: "",
) -> tuple[SendStats, ReadbackResult]:
    """Run `send(on_ack)`, then wait until `readback` counts everything it acknowledged (skipped without one).

    `extra_info()` is appended to both bars' text.
    """
    with Progress(*bar_columns(), console=console) as progress:
        send_task = progress.add_task("sending", total=total_spans, info="")

        def on_ack(st: SendStats) -> None:
            progress.update(send_task, completed=st.acked_spans + st.failed_spans, info=ack_info(st) + extra_info())

        stats = await send(on_ack)
        if readback is None:
            return stats, ReadbackResult(status="skipped")
        if not stats.acked_spans or stats.last_ack_at is None:
            return stats, ReadbackResult(status="error", error="nothing was acknowledged")
        q_task = progress.add_task("queryable", total=stats.acked_spans, info="")

        def on_poll(spans: int, traces: int) -> None:
            progress.update(q_task, completed=min(spans, stats.acked_spans), info=f"{traces:,} traces" + extra_info())

        rb = await readback.wait(
            stats.acked_spans, stats.acked_traces, stats.last_ack_at, timeout_s, poll_interval_s, on_poll
        )
        return stats, rb
