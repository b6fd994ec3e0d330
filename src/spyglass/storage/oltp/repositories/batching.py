"""Splitting long id lists for `IN (…)`: SQLite caps the bound parameters of one statement."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

T = TypeVar("T")


def chunks(items: list[T], size: int = 500) -> Iterable[list[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
