"""The metastore contract: what every storage mode must do, returning only immutable records.

Thread-safety: every method opens its own transaction, so one store may be shared by threads and
processes. Every method may raise `StoreUnavailable` when the database cannot be reached.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Sequence
from typing import Any

from metastore.records import (
    ApiKeyRecord,
    ConfigurationRecord,
    DatasetFilter,
    DatasetRecord,
    EvaluationRecord,
    KnowledgeBaseStats,
    LearnerModelRecord,
    MetaFeatureVector,
    NewDataset,
    NewEvaluation,
    Page,
    Scope,
    SearchSpaceRecord,
    StoredEvaluation,
    TaskType,
)


class MetaStore(abc.ABC):
    # -- datasets -------------------------------------------------------------------------
    @abc.abstractmethod
    def add_dataset(self, new: NewDataset) -> tuple[DatasetRecord, bool]:
        """Store a dataset once per content hash. Returns (record, created).

        A second call with the same `content_hash` returns the existing record and False.
        """

    @abc.abstractmethod
    def get_dataset(self, dataset_id: int) -> DatasetRecord:
        """Raises: DatasetNotFound."""

    @abc.abstractmethod
    def find_dataset(self, content_hash: str) -> DatasetRecord | None:
        """The dataset with this content hash, or None."""

    @abc.abstractmethod
    def list_datasets(
        self, filters: DatasetFilter = DatasetFilter(), limit: int = 50, offset: int = 0
    ) -> Page[DatasetRecord]:
        """Datasets matching `filters`, oldest first, with the total count."""

    @abc.abstractmethod
    def delete_dataset(self, dataset_id: int) -> DatasetRecord:
        """Delete a dataset with its meta-features and evaluations. Raises: DatasetNotFound."""

    @abc.abstractmethod
    def set_metafeatures(self, dataset_id: int, vector: MetaFeatureVector) -> None:
        """Replace a dataset's meta-feature vector. Raises: DatasetNotFound."""

    @abc.abstractmethod
    def all_metafeatures(
        self, task_type: TaskType | None = None
    ) -> list[tuple[DatasetRecord, MetaFeatureVector]]:
        """Every dataset that has meta-features, with its vector (for neighbours and learners)."""

    # -- search spaces and configurations ---------------------------------------------------
    @abc.abstractmethod
    def upsert_search_space(
        self, family: str, task_type: TaskType, version: str, definition: dict[str, Any]
    ) -> SearchSpaceRecord:
        """Store a space once per (family, task type, version); return the stored one."""

    @abc.abstractmethod
    def list_search_spaces(self) -> list[SearchSpaceRecord]: ...

    @abc.abstractmethod
    def get_search_space(self, space_id: int) -> SearchSpaceRecord:
        """Raises: SearchSpaceNotFound."""

    @abc.abstractmethod
    def add_configurations(
        self, space_id: int, configs: Sequence[tuple[dict[str, Any], str | None]]
    ) -> list[ConfigurationRecord]:
        """Store (values, name) pairs once per canonical hash; return them in input order.

        Raises: SearchSpaceNotFound.
        """

    @abc.abstractmethod
    def get_configuration(self, configuration_id: int) -> ConfigurationRecord:
        """Raises: ConfigurationNotFound."""

    @abc.abstractmethod
    def list_configurations(self, space_id: int | None = None) -> list[ConfigurationRecord]: ...

    # -- evaluations ------------------------------------------------------------------------
    @abc.abstractmethod
    def add_evaluations(self, new: Sequence[NewEvaluation]) -> list[StoredEvaluation]:
        """Store a batch atomically: all of it or nothing.

        An item whose idempotency key is already stored with the same payload is not written
        again; its stored record comes back with created=False.
        Raises: InvalidReference (unknown dataset or configuration), IdempotencyConflict.
        """

    @abc.abstractmethod
    def import_evaluations(self, new: Sequence[NewEvaluation]) -> int:
        """Bulk-load many evaluations in one transaction; returns how many were new.

        For knowledge-base loads: every item must carry an idempotency key, and an item whose key
        is already stored is skipped without comparing payloads (so a reload adds nothing).
        Raises: InvalidReference, ValueError (an item without a key).
        """

    @abc.abstractmethod
    def list_evaluations(
        self,
        dataset_id: int | None = None,
        configuration_id: int | None = None,
        protocol: str | None = None,
    ) -> list[EvaluationRecord]:
        """Evaluations, oldest first. Raises: DatasetNotFound for an unknown dataset_id."""

    @abc.abstractmethod
    def evaluated_cells(self, protocol: str) -> set[tuple[int, int]]:
        """(dataset_id, configuration_id) pairs that already hold a result under `protocol`."""

    @abc.abstractmethod
    def stats(self) -> KnowledgeBaseStats: ...

    @abc.abstractmethod
    def knowledge_fingerprint(self, protocol: str) -> str:
        """Changes whenever evaluations, datasets or meta-feature vectors change (cheap: no scan).

        It may also change for a write that does not touch `protocol`; callers only refit then.
        """

    # -- fitted recommenders ------------------------------------------------------------------
    @abc.abstractmethod
    def save_learner_model(
        self,
        method: str,
        task_type: TaskType,
        metric: str,
        version: str,
        kb_fingerprint: str,
        payload: bytes,
        metrics: dict[str, Any],
    ) -> LearnerModelRecord:
        """Store a fitted recommender under a new, unique version (returned without payload)."""

    @abc.abstractmethod
    def latest_learner_model(
        self, method: str, task_type: TaskType, metric: str
    ) -> LearnerModelRecord | None:
        """The most recently stored model of that kind, with its payload, or None."""

    @abc.abstractmethod
    def list_learner_models(self) -> list[LearnerModelRecord]:
        """Every stored model, newest first, without payloads."""

    # -- API keys ---------------------------------------------------------------------------
    @abc.abstractmethod
    def create_api_key(self, scopes: Iterable[Scope], name: str = "") -> tuple[ApiKeyRecord, str]:
        """Create a key; returns its record and the plaintext key, which is never stored."""

    @abc.abstractmethod
    def verify_api_key(self, plaintext: str) -> ApiKeyRecord | None:
        """The live key matching `plaintext`, or None."""

    @abc.abstractmethod
    def count_api_keys(self) -> int:
        """Keys that are not revoked."""

    @abc.abstractmethod
    def revoke_api_key(self, key_id: int) -> None: ...

    # -- health -----------------------------------------------------------------------------
    @abc.abstractmethod
    def check(self) -> None:
        """Raises StoreUnavailable if the database is down, SchemaOutOfDate if it is stale."""
