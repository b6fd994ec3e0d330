"""The queue on Redis Streams: one consumer group shared by every worker process, at-least-once.

Keys (all under `{prefix}:queue`):

- `{prefix}:queue` — the stream. Every job is one entry; it stays there until it is acked.
- `{prefix}:queue:delayed` — sorted set of retried job ids by due time, with their fields in the
  hash `{prefix}:queue:delayed-jobs` (`<id>:payload`, `<id>:attempts`, ...).
- `{prefix}:queue:reentered` — sorted set of jobs (by first enqueue time) whose stream entry id no
  longer is their job id because they went through a retry or a requeue; it lets `contains` and
  `stats` see them wherever they are.
- `{prefix}:queue:dead` — the dead-letter stream.

Guarantees, and what they rest on:

- `put` returns the entry id only after Redis answered the XADD, so the job exists before the caller
  acknowledges anything. Whether it survives a Redis *restart* is up to Redis persistence: with AOF
  and `appendfsync always` every answered write is on disk first; with `everysec` a Redis or host
  crash can lose up to a second of acknowledged jobs; without persistence a restart loses the queue
  (the consumer group is then recreated on the first NOGROUP error). A failover to an asynchronously
  replicated replica can likewise lose the last acknowledged jobs. The converse: a `put` that timed
  out may still have been enqueued, so the client's retry can enqueue a job twice.
- A delivered entry sits in the group's pending list until `ack` (XACK + XDEL in one MULTI). If its
  consumer dies, any other consumer reclaims it with XAUTOCLAIM once it has been idle longer than
  `visibility_timeout`. So nothing taken is lost, but a job is delivered again when processing outlives
  the visibility timeout or the ack is lost: consumers must be idempotent.
- `retry` and `dead_letter` remove the stream entry in the same MULTI that stores the job elsewhere,
  and due retries move back into the stream in one Lua script: a job is never dropped between two
  places, however many consumers race (a second copy can only come from a reclaim, as above).
- Failures surface within about two seconds (short socket timeouts, one reconnect): `put`, `ack` and
  the rest raise, so the API answers 503. Only `take` waits out its timeout and returns [] while Redis
  is unreachable, so a consumer loop rides out the outage; the pending list keeps what it had taken.
- A job keeps its id through retries and requeues (`Job.id`); the current entry travels with the
  delivered job as `RedisJob.entry_id`, which is what ack/retry/dead_letter act on.
- Order is the stream's: FIFO for fresh jobs; retried and requeued jobs go to the tail.

Limits: delays are measured with the clients' clocks; consumers stay registered in the group after
their process is gone (harmless, visible in XINFO CONSUMERS); a job that crashes its consumer every
time is redelivered forever, since only a failure the worker sees counts as an attempt.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
import redis
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from spyglass.storage.queue.base import DeadJob, Job, QueueStats

log = logging.getLogger(__name__)
T = TypeVar("T")

# Failures must reach the API within seconds (it answers 503 and the client retries), so one quick
# reconnect — enough for a pooled connection that went stale across a Redis restart — and no more.
# Only connection errors are retried: a timed-out command may have run, and a repeat would duplicate it.
_CONNECT_TIMEOUT = 1.0
_SOCKET_TIMEOUT = 1.5
_RETRIES = 1
# A blocking read waits at most this long per round, so that `close`, due retries and crashed
# consumers' jobs are noticed without a connection of their own. Must stay well below _SOCKET_TIMEOUT.
_BLOCK_SLICE = 0.25
_PAGE = 500
_STREAM_ID = re.compile(r"\d+-\d+\Z")
_FIELDS = ("payload", "attempts", "enqueued_at", "errors")

# Atomic, so each due job moves exactly once however many consumers run it at the same time.
# Returns how many moved and the due time of the next delayed job (or nil).
_PROMOTE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(due) do
  local names = {id .. ':payload', id .. ':attempts', id .. ':enqueued_at', id .. ':errors'}
  local f = redis.call('HMGET', KEYS[2], unpack(names))
  if f[1] then
    redis.call('XADD', KEYS[3], '*', 'id', id, 'payload', f[1], 'attempts', f[2], 'enqueued_at', f[3],
               'errors', f[4])
  end
  redis.call('HDEL', KEYS[2], unpack(names))
  redis.call('ZREM', KEYS[1], id)
end
local nxt = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {#due, nxt[2] or false}
"""

# Atomic per page, so two operators requeueing at once cannot both move the same dead job.
_REQUEUE = """
local entries = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', tonumber(ARGV[2]))
for _, entry in ipairs(entries) do
  local f = {}
  for i = 1, #entry[2], 2 do f[entry[2][i]] = entry[2][i + 1] end
  redis.call('XADD', KEYS[2], '*', 'id', f['id'], 'payload', f['payload'], 'attempts', '0',
             'enqueued_at', ARGV[1], 'errors', '[]')
  redis.call('ZADD', KEYS[3], ARGV[1], f['id'])
  redis.call('XDEL', KEYS[1], entry[1])
end
return #entries
"""


@dataclass(slots=True)
class RedisJob(Job):
    """A delivered job and the stream entry it was delivered from (differs from `id` after a retry)."""

    entry_id: str = ""


def _entry_id(job: Job) -> str:
    return getattr(job, "entry_id", "") or job.id


class RedisJobQueue:
    def __init__(
        self,
        url: str,
        *,
        prefix: str = "spyglass",
        consumer: str | None = None,
        visibility_timeout: float = 60.0,
        group: str = "workers",
    ) -> None:
        self.stream = f"{prefix}:queue"
        self._delayed = f"{prefix}:queue:delayed"
        self._delayed_jobs = f"{prefix}:queue:delayed-jobs"
        self._reentered = f"{prefix}:queue:reentered"
        self._dead = f"{prefix}:queue:dead"
        self.group = group
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.visibility_timeout = visibility_timeout
        self._redis = redis.Redis.from_url(
            url,
            socket_timeout=_SOCKET_TIMEOUT,
            socket_connect_timeout=_CONNECT_TIMEOUT,
            health_check_interval=15,
            retry=Retry(ExponentialBackoff(cap=0.2, base=0.05), _RETRIES, supported_errors=(RedisConnectionError,)),
        )
        self._promote = self._redis.register_script(_PROMOTE)
        self._requeue = self._redis.register_script(_REQUEUE)
        self._claim_every = min(1.0, visibility_timeout / 2)
        self._next_claim = 0.0
        self._claim_cursor: bytes | str = "0-0"
        self._cond = threading.Condition()
        self._closed = False
        self._takers = 0
        self._outage = False
        self._create_group()

    # -- producing -------------------------------------------------------------------------------

    def put(self, payload: bytes) -> str:
        entry_id = self._redis.xadd(
            self.stream, {"payload": payload, "attempts": 0, "enqueued_at": time.time(), "errors": b"[]"}
        )
        return entry_id.decode()

    # -- consuming -------------------------------------------------------------------------------

    def take(self, max_items: int, timeout: float) -> list[Job]:
        """Up to `max_items` jobs; [] once closed. While Redis is unreachable it waits out `timeout`
        and returns [] (logging the outage once), so a consumer loop rides out an outage."""
        if max_items <= 0:
            return []
        deadline = time.monotonic() + max(timeout, 0.0)
        with self._cond:
            if self._closed:
                return []
            self._takers += 1
        try:
            jobs = self._take(max_items, deadline)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            if not self._outage and not self._closed:
                self._outage = True
                log.warning("Redis queue unreachable, consumers wait for it: %s", exc)
            with self._cond:
                self._cond.wait_for(lambda: self._closed, timeout=max(deadline - time.monotonic(), 0.0))
            return []
        finally:
            with self._cond:
                self._takers -= 1
                self._cond.notify_all()
        if self._outage:
            self._outage = False
            log.warning("Redis queue reachable again")
        return list(jobs)

    def _take(self, max_items: int, deadline: float) -> list[RedisJob]:
        while True:
            next_due = self._promote_due()
            jobs = self._reclaim(max_items) if time.monotonic() >= self._next_claim else []
            if len(jobs) < max_items:
                remaining = deadline - time.monotonic()
                block = None
                if not jobs and remaining > 0 and not self._closed:
                    wait = min(remaining, _BLOCK_SLICE)
                    if next_due is not None:
                        wait = min(wait, max(next_due - time.time(), 0.0))
                    block = max(int(wait * 1000), 1)  # BLOCK 0 would wait forever
                jobs += self._read(max_items - len(jobs), block)
            if jobs or self._closed or time.monotonic() >= deadline:
                return jobs

    def _promote_due(self) -> float | None:
        _moved, next_due = self._promote(
            keys=[self._delayed, self._delayed_jobs, self.stream], args=[time.time(), _PAGE]
        )
        return None if next_due is None else float(next_due)

    def _reclaim(self, count: int) -> list[RedisJob]:
        """Take over entries whose consumer has not acked them within the visibility timeout."""
        min_idle_ms = int(self.visibility_timeout * 1000)
        cursor, entries, *_deleted = self._grouped(
            lambda: self._redis.xautoclaim(
                self.stream, self.group, self.consumer, min_idle_ms, self._claim_cursor, count=count
            )
        )
        self._claim_cursor = cursor
        # A full scan waits for the next round; a partial one goes on at once, so a backlog of
        # abandoned entries is not drained one page per second.
        wrapped = cursor in (b"0-0", "0-0")
        self._next_claim = time.monotonic() + self._claim_every if wrapped else 0.0
        # Entries deleted while pending come back without fields; XAUTOCLAIM drops them from the list.
        return [self._job(entry_id, fields) for entry_id, fields in entries if fields]

    def _read(self, count: int, block: int | None) -> list[RedisJob]:
        response = self._grouped(
            lambda: self._redis.xreadgroup(self.group, self.consumer, {self.stream: ">"}, count=count, block=block)
        )
        streams = response.items() if isinstance(response, dict) else (response or [])
        return [self._job(entry_id, fields) for _name, entries in streams for entry_id, fields in entries if fields]

    @staticmethod
    def _job(entry_id: bytes, fields: dict[bytes, bytes]) -> RedisJob:
        entry = entry_id.decode()
        job_id = fields.get(b"id")
        return RedisJob(
            id=job_id.decode() if job_id else entry,
            payload=fields.get(b"payload", b""),
            attempts=int(fields.get(b"attempts", 0)),
            enqueued_at=float(fields.get(b"enqueued_at", 0.0)),
            errors=orjson.loads(fields.get(b"errors", b"[]")),
            entry_id=entry,
        )

    def ack(self, jobs: list[Job]) -> None:
        if not jobs:
            return
        entries = [_entry_id(job) for job in jobs]
        pipe = self._redis.pipeline(transaction=True)
        pipe.xack(self.stream, self.group, *entries)
        pipe.xdel(self.stream, *entries)
        pipe.zrem(self._reentered, *[job.id for job in jobs])
        pipe.execute()

    def retry(self, job: Job, error: str, delay: float) -> None:
        values = (job.payload, job.attempts + 1, job.enqueued_at, orjson.dumps([*job.errors, error]))
        fields = {f"{job.id}:{name}": value for name, value in zip(_FIELDS, values, strict=True)}
        entry = _entry_id(job)
        pipe = self._redis.pipeline(transaction=True)
        pipe.hset(self._delayed_jobs, mapping=fields)
        pipe.zadd(self._delayed, {job.id: time.time() + max(delay, 0.0)})
        pipe.zadd(self._reentered, {job.id: job.enqueued_at})
        pipe.xack(self.stream, self.group, entry)
        pipe.xdel(self.stream, entry)
        pipe.execute()

    def dead_letter(self, job: Job, error: str) -> None:
        entry = _entry_id(job)
        pipe = self._redis.pipeline(transaction=True)
        pipe.xadd(self._dead, {
            "id": job.id, "payload": job.payload, "error": error, "errors": orjson.dumps(job.errors),
            "attempts": job.attempts, "enqueued_at": job.enqueued_at, "died_at": time.time(),
        })
        pipe.xack(self.stream, self.group, entry)
        pipe.xdel(self.stream, entry)
        pipe.zrem(self._reentered, job.id)
        pipe.execute()

    # -- operating -------------------------------------------------------------------------------

    def list_dead(self) -> list[DeadJob]:
        dead: list[DeadJob] = []
        start = "-"
        while True:
            page = self._redis.xrange(self._dead, start, "+", count=_PAGE)
            dead += [
                DeadJob(id=fields[b"id"].decode(), payload=fields[b"payload"],
                        error=fields[b"error"].decode("utf-8", "replace"), died_at=float(fields[b"died_at"]))
                for _entry, fields in page
            ]
            if len(page) < _PAGE:
                return dead
            start = "(" + page[-1][0].decode()

    def requeue_dead(self) -> int:
        moved = 0
        while True:
            count = int(self._requeue(keys=[self._dead, self.stream, self._reentered], args=[time.time(), _PAGE]))
            moved += count
            if count < _PAGE:
                return moved

    def stats(self) -> QueueStats:
        def read() -> list[Any]:
            pipe = self._redis.pipeline(transaction=True)
            pipe.xlen(self.stream)
            pipe.xpending(self.stream, self.group)
            pipe.zcard(self._delayed)
            pipe.xlen(self._dead)
            pipe.xrange(self.stream, count=1)
            pipe.zrange(self._reentered, 0, 0, withscores=True)
            return pipe.execute()

        length, pending, delayed, dead, head, reentered = self._grouped(read)
        in_flight = int(pending["pending"])
        # Fresh entries are appended in enqueue order, so the stream's head is the oldest of them;
        # every job older than its entry (retried or requeued) is in `reentered`.
        enqueued = [float(fields[b"enqueued_at"]) for _entry, fields in head if fields]
        enqueued += [score for _member, score in reentered]
        oldest = min(enqueued, default=None)
        return QueueStats(
            depth=max(length - in_flight, 0) + delayed,
            in_flight=in_flight,
            oldest_age_seconds=None if oldest is None else max(time.time() - oldest, 0.0),
            dead=dead,
        )

    def contains(self, job_id: str) -> bool:
        if not _STREAM_ID.match(job_id):
            return False
        pipe = self._redis.pipeline(transaction=True)
        pipe.xrange(self.stream, job_id, job_id, count=1)
        pipe.zscore(self._reentered, job_id)
        entry, reentered = pipe.execute()
        return bool(entry) or reentered is not None

    def close(self) -> None:
        """Stop every `take` (they return within one blocking round), then drop the connections.

        Other calls still work afterwards: they open a new connection."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            self._cond.wait_for(lambda: self._takers == 0, timeout=_SOCKET_TIMEOUT + _BLOCK_SLICE)
        self._redis.close()

    # -- the consumer group ----------------------------------------------------------------------

    def _create_group(self) -> None:
        # From id 0: after the group was lost, every entry still in the stream is delivered again.
        try:
            self._redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def _grouped(self, command: Callable[[], T]) -> T:
        """Run `command`, recreating the group once if it is gone (keys deleted, or Redis restarted empty)."""
        try:
            return command()
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
        log.warning("consumer group %s on %s was missing; recreated it", self.group, self.stream)
        self._create_group()
        return command()
