"""Writes that race other processes: a unique key taken first by another writer means "try again"."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Final, TypeVar

from spyglass.domain.errors import DuplicateKey

log = logging.getLogger(__name__)

ATTEMPTS: Final = 5
T = TypeVar("T")


def retrying_duplicates(write: Callable[[], T], what: str, attempts: int = ATTEMPTS) -> T:
    """Run the transaction `write` again (after a short random pause) while it hits `DuplicateKey`.

    Each process serialises its own writers; across processes the unique keys catch the race,
    and the next attempt sees the row the other writer committed. The last failure is raised.
    """
    for attempt in range(1, attempts + 1):
        try:
            return write()
        except DuplicateKey:
            if attempt == attempts:
                raise
            log.info("%s changed concurrently; writing again", what)
            time.sleep(random.uniform(0, 0.02 * attempt))
    raise AssertionError("unreachable")
