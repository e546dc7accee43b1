"""Domain errors raised by the metastore; the service maps each to one HTTP status in one place."""

from __future__ import annotations


class MetastoreError(Exception):
    """Base class of every error the metastore raises on purpose."""


class NotFound(MetastoreError):
    """A record that was asked for by id does not exist."""

    kind = "record"

    def __init__(self, id: int | str) -> None:
        self.id = id
        super().__init__(f"{self.kind} {id!r} does not exist")


class DatasetNotFound(NotFound):
    kind = "dataset"


class ConfigurationNotFound(NotFound):
    kind = "configuration"


class SearchSpaceNotFound(NotFound):
    kind = "search space"


class IdempotencyConflict(MetastoreError):
    """An idempotency key was reused with a different payload."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(
            f"idempotency key {key!r} was already used for a different request; "
            "send a new key for a new result, or resend the original payload unchanged"
        )


class InvalidReference(MetastoreError):
    """A write names a dataset or configuration that does not exist, so nothing was written."""

    def __init__(self, what: str, ids: list[int]) -> None:
        self.what = what
        self.ids = ids
        super().__init__(f"unknown {what} id(s) {ids}; nothing was written")


class StoreUnavailable(MetastoreError):
    """The database cannot be reached or is locked; the caller should retry later."""

    retry_after_s = 5

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"the metastore is temporarily unavailable: {reason}")


class SchemaOutOfDate(MetastoreError):
    """The database schema is not at the migrations' head; the service refuses to run on it."""

    def __init__(self, current: str | None, head: str, url: str) -> None:
        self.current = current
        self.head = head
        self.command = "warmstart db upgrade"
        super().__init__(
            f"the metastore schema at {url} is at revision {current or '<empty>'}, "
            f"but this version of warmstart needs {head}. Run: {self.command}"
        )


class JobNotFound(NotFound):
    kind = "job"


class JobLost(MetastoreError):
    """A worker touched a job it no longer owns (requeued after a missed heartbeat, or finished)."""

    def __init__(self, job_id: int, owner: str) -> None:
        self.job_id = job_id
        self.owner = owner
        super().__init__(
            f"job {job_id} is no longer running under worker {owner!r}: it was requeued after a "
            "missed heartbeat, cancelled or finished elsewhere; this worker must drop its result"
        )


class JobAlreadyFinished(MetastoreError):
    """A request to change a job that has already reached a final state."""

    def __init__(self, job_id: int, state: str) -> None:
        self.job_id = job_id
        self.state = state
        super().__init__(f"job {job_id} already {state}; a finished job cannot be changed")
