"""SQLAlchemy table models. The schema itself is defined by the Alembic migrations; these must match them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

JsonType = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JsonType, list[Any]: JsonType}


class Dataset(Base):
    """A dataset the metastore knows: its description, schema and where its raw file lives."""

    __tablename__ = "datasets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(255), index=True, doc="Human-readable name.")
    description: Mapped[str] = mapped_column(Text, default="", doc="Free text from the uploader.")
    source: Mapped[str] = mapped_column(
        String(255), default="upload", doc="Where it came from: upload, pmlb, sklearn, openml:ID..."
    )
    content_hash: Mapped[str] = mapped_column(
        String(64), unique=True, doc="SHA-256 of the canonical table; the same content is stored once."
    )
    task_type: Mapped[str] = mapped_column(String(16), doc="classification or regression.")
    target: Mapped[str] = mapped_column(String(255), doc="Name of the target column.")
    n_rows: Mapped[int] = mapped_column(Integer, doc="Rows after intake.")
    n_features: Mapped[int] = mapped_column(Integer, doc="Feature columns (target excluded).")
    column_types: Mapped[dict[str, Any]] = mapped_column(
        doc="Column name -> numeric|categorical|boolean|id|constant, as intake decided."
    )
    column_stats: Mapped[dict[str, Any]] = mapped_column(
        doc="Column name -> {missing, unique}: what intake saw, so missing values are on record."
    )
    origin_group: Mapped[str | None] = mapped_column(
        String(128), index=True, doc="Family of related datasets, held out together in evaluation."
    )
    raw_file: Mapped[str | None] = mapped_column(
        String(255), doc="Server-chosen file name of the raw upload under the data directory."
    )
    file_format: Mapped[str | None] = mapped_column(String(16), doc="csv, tsv, parquet, arff, json.")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DatasetMetaFeatures(Base):
    """The meta-feature vector of a dataset, with the extractor version that computed it."""

    __tablename__ = "dataset_metafeatures"

    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True)
    version: Mapped[str] = mapped_column(String(32), doc="Extractor version; stale when it differs.")
    values: Mapped[dict[str, Any]] = mapped_column(doc="Name -> value; null for a missing value.")
    times: Mapped[dict[str, Any]] = mapped_column(doc="Name -> seconds spent computing it.")
    failures: Mapped[dict[str, Any]] = mapped_column(doc="Name -> why it could not be computed.")
    sample_size: Mapped[int | None] = mapped_column(Integer, doc="Rows the sampled groups used.")
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class SearchSpace(Base):
    """A versioned search space of one algorithm family for one task type."""

    __tablename__ = "search_spaces"
    __table_args__ = (UniqueConstraint("family", "task_type", "version", name="uq_space_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    family: Mapped[str] = mapped_column(String(64), doc="Algorithm family, e.g. lightgbm.")
    task_type: Mapped[str] = mapped_column(String(16))
    version: Mapped[str] = mapped_column(String(32))
    definition: Mapped[dict[str, Any]] = mapped_column(doc="The space as JSON (ConfigSpace's).")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Configuration(Base):
    """One point of a search space; the canonical hash keeps each stored once."""

    __tablename__ = "configurations"
    __table_args__ = (UniqueConstraint("space_id", "config_hash", name="uq_configuration_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    space_id: Mapped[int] = mapped_column(ForeignKey("search_spaces.id", ondelete="CASCADE"))
    values: Mapped[dict[str, Any]] = mapped_column(doc="Hyperparameter name -> value.")
    config_hash: Mapped[str] = mapped_column(String(64), doc="SHA-256 of the canonical JSON of values.")
    name: Mapped[str | None] = mapped_column(
        String(128), doc="Optional stable name: default, lightgbm-sobol-07..."
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Evaluation(Base):
    """One result of training a configuration on a dataset under a protocol (also failures)."""

    __tablename__ = "evaluations"
    __table_args__ = (
        Index("ix_evaluations_cell", "dataset_id", "configuration_id", "protocol"),
        # knowledge_fingerprint: the newest result of one protocol, without a scan
        Index("ix_evaluations_protocol_id", "protocol", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    configuration_id: Mapped[int] = mapped_column(
        ForeignKey("configurations.id", ondelete="CASCADE"), index=True
    )
    protocol: Mapped[str] = mapped_column(String(64), doc="Evaluation protocol name and version.")
    metrics: Mapped[dict[str, Any]] = mapped_column(doc="Metric name -> value.")
    status: Mapped[str] = mapped_column(String(16), doc="ok, failed or timeout.")
    fit_time: Mapped[float | None] = mapped_column(Float, doc="Seconds to fit.")
    predict_time: Mapped[float | None] = mapped_column(Float, doc="Seconds to predict.")
    peak_memory_mb: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text, doc="Why it failed or timed out.")
    source: Mapped[str] = mapped_column(String(64), doc="kb-sweep, api, study, import...")
    idempotency_key: Mapped[str | None] = mapped_column(
        String(255), unique=True, doc="Client key; a replay returns the stored row."
    )
    request_hash: Mapped[str | None] = mapped_column(
        String(64), doc="Hash of the payload sent with the idempotency key."
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApiKey(Base):
    """An API key, stored as a SHA-256 hash; the key itself is shown once at creation."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), default="")
    prefix: Mapped[str] = mapped_column(String(16), doc="First characters, to tell keys apart.")
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[Any]] = mapped_column(doc="Granted scopes: read, write, admin.")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Job(Base):
    """A unit of long work (meta-training, recomputation...) that workers claim, run and report on."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_state_id", "state", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(64), index=True, doc="Registered handler name.")
    arguments: Mapped[dict[str, Any]] = mapped_column(doc="Keyword arguments for the handler (JSON).")
    state: Mapped[str] = mapped_column(String(16), doc="queued, running, succeeded, failed or cancelled.")
    attempts: Mapped[int] = mapped_column(Integer, doc="Times a worker has claimed it.")
    max_attempts: Mapped[int] = mapped_column(Integer, doc="Claims allowed before it fails for good.")
    owner: Mapped[str | None] = mapped_column(String(128), doc="Worker id while running.")
    heartbeat_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), doc="Last sign of life from the owner (database clock)."
    )
    progress: Mapped[float] = mapped_column(Float, doc="Fraction done, 0 to 1.")
    message: Mapped[str] = mapped_column(Text, doc="Latest progress message.")
    metrics: Mapped[dict[str, Any]] = mapped_column(doc="Latest value of every metric reported.")
    result: Mapped[dict[str, Any] | None] = mapped_column(JsonType, doc="The handler's result.")
    error: Mapped[str | None] = mapped_column(Text, doc="The last attempt's error, kept after retries.")
    cancel_requested: Mapped[bool] = mapped_column(Boolean, doc="Set by cancel; the owner stops.")
    run_after: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), doc="A retried job waits until then (back-off); null: due at once."
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class JobEvent(Base):
    """An append-only log of what happened to a job; its id orders server-sent events."""

    __tablename__ = "job_events"
    __table_args__ = (Index("ix_job_events_job_id", "job_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(
        String(16), doc="queued, claimed, progress, retrying, requeued, released, cancel, succeeded..."
    )
    attempt: Mapped[int] = mapped_column(Integer, doc="The job's attempt count when it happened.")
    owner: Mapped[str | None] = mapped_column(String(128), doc="The worker involved, if any.")
    progress: Mapped[float | None] = mapped_column(Float)
    message: Mapped[str] = mapped_column(Text)
    metrics: Mapped[dict[str, Any]] = mapped_column()
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class JobCheckpoint(Base):
    """A running job's latest resumable state, so another worker (on any machine) can continue it.

    Deleted when the job ends, whichever way it ends.
    """

    __tablename__ = "job_checkpoints"

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    attempt: Mapped[int] = mapped_column(Integer, doc="The attempt that wrote it.")
    payload: Mapped[bytes] = mapped_column(LargeBinary, doc="Opaque bytes (a safetensors checkpoint).")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LearnerModel(Base):
    """A fitted recommender, stored in the database so every replica of the service serves it."""

    __tablename__ = "learner_models"
    __table_args__ = (Index("ix_learner_models_lookup", "method", "task_type", "metric", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    method: Mapped[str] = mapped_column(String(32), doc="Recommender method: learned, knn...")
    task_type: Mapped[str] = mapped_column(String(16))
    metric: Mapped[str] = mapped_column(String(32), doc="The metric it ranks by.")
    version: Mapped[str] = mapped_column(String(96), unique=True, doc="Named in every response.")
    kb_fingerprint: Mapped[str] = mapped_column(String(64), doc="The knowledge it was fitted on.")
    payload: Mapped[bytes] = mapped_column(LargeBinary, doc="Zip of its saved files (JSON + safetensors).")
    metrics: Mapped[dict[str, Any]] = mapped_column(doc="Fit facts: datasets, configurations, seconds.")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Family(Base):
    """A family of related supervised tasks sharing one input schema and one meta-learning set-up."""

    __tablename__ = "families"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    task_type: Mapped[str] = mapped_column(String(16), doc="regression or classification.")
    features: Mapped[list[Any]] = mapped_column(doc="The feature column names, in model input order.")
    target: Mapped[str] = mapped_column(String(255), doc="The target column name.")
    algorithm: Mapped[str] = mapped_column(String(16), doc="maml, fomaml, reptile, metasgd, anil, protonet.")
    settings: Mapped[dict[str, Any]] = mapped_column(doc="Network sizes and meta-learning hyper-parameters.")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class FamilyTask(Base):
    """One prior task of a family: its rows (features then target) as an .npy float64 matrix."""

    __tablename__ = "family_tasks"
    __table_args__ = (
        UniqueConstraint("family_id", "content_hash", name="uq_family_tasks_content"),
        Index("ix_family_tasks_family_id", "family_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    family_id: Mapped[int] = mapped_column(ForeignKey("families.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    n_rows: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64), doc="SHA-256 of the rows; a task is stored once.")
    payload: Mapped[bytes] = mapped_column(LargeBinary, doc="numpy .npy bytes (no pickle).")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class FamilyModel(Base):
    """A network of a family: a meta-trained initialisation, a pooled baseline, or an adapted model."""

    __tablename__ = "family_models"
    __table_args__ = (UniqueConstraint("family_id", "kind", "version", name="uq_family_models_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    family_id: Mapped[int] = mapped_column(ForeignKey("families.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16), doc="init, pooled or adapted.")
    version: Mapped[int] = mapped_column(Integer, doc="1, 2, ... per family and kind.")
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("family_models.id"), doc="The initialisation an adapted model started from."
    )
    support_hash: Mapped[str | None] = mapped_column(String(64), doc="SHA-256 of the support set.")
    file: Mapped[str] = mapped_column(
        String(64), unique=True, doc="Server-chosen name; models made before 0007 are a file of it."
    )
    metrics: Mapped[dict[str, Any]] = mapped_column(doc="Training facts and scores.")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class FamilyModelWeights(Base):
    """A family model's weights (safetensors bytes), in the database so every machine can serve them."""

    __tablename__ = "family_model_weights"

    model_id: Mapped[int] = mapped_column(
        ForeignKey("family_models.id", ondelete="CASCADE"), primary_key=True
    )
    payload: Mapped[bytes] = mapped_column(LargeBinary, doc="safetensors bytes (never pickle).")
    sha256: Mapped[str] = mapped_column(String(64), doc="SHA-256 of the payload.")


class Study(Base):
    """A tuning run on one dataset: which space it searches, by which metric, in which direction."""

    __tablename__ = "studies"
    __table_args__ = (Index("ix_studies_dataset_id", "dataset_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255), doc="Free label from the client.")
    task_type: Mapped[str] = mapped_column(String(16), doc="The dataset's task type.")
    space: Mapped[str] = mapped_column(String(64), doc="A family name, or auto (across families).")
    families: Mapped[list[Any]] = mapped_column(doc="The families searched, in order.")
    metric: Mapped[str] = mapped_column(String(32), doc="The metric the study optimises.")
    direction: Mapped[str] = mapped_column(String(8), doc="maximize or minimize.")
    n_initial: Mapped[int] = mapped_column(Integer, doc="Trials taken from the zero-shot recommender.")
    seed: Mapped[int] = mapped_column(Integer, doc="Seed of every random choice the study makes.")
    pending_timeout_s: Mapped[float | None] = mapped_column(
        Float, doc="Seconds after which a pending trial counts as expired; NULL: never."
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class StudyTrial(Base):
    """One configuration handed out by a study (pending), and later its observed result."""

    __tablename__ = "study_trials"
    __table_args__ = (
        UniqueConstraint("study_id", "number", name="uq_study_trials_number"),
        UniqueConstraint("study_id", "configuration_id", name="uq_study_trials_configuration"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer, doc="0, 1, ... in the order handed out.")
    configuration_id: Mapped[int] = mapped_column(
        ForeignKey("configurations.id", ondelete="CASCADE"), doc="Never twice in one study."
    )
    family: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16), doc="zero_shot, transfer, surrogate or random.")
    model_version: Mapped[str | None] = mapped_column(
        String(96), doc="The recommender or surrogate version that proposed it."
    )
    acquisition: Mapped[float | None] = mapped_column(Float, doc="Acquisition value when proposed.")
    predicted_mean: Mapped[float | None] = mapped_column(Float, doc="Surrogate mean (normalised).")
    predicted_std: Mapped[float | None] = mapped_column(Float, doc="Surrogate standard deviation.")
    state: Mapped[str] = mapped_column(
        String(16), doc="pending, ok, failed, or expired (pending past the study's pending_timeout_s)."
    )
    score: Mapped[float | None] = mapped_column(Float, doc="The study metric's observed value.")
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JsonType, doc="Every metric observed.")
    fit_time: Mapped[float | None] = mapped_column(Float, doc="Seconds to fit, as reported.")
    error: Mapped[str | None] = mapped_column(Text, doc="Why it failed, as reported.")
    evaluation_id: Mapped[int | None] = mapped_column(
        ForeignKey("evaluations.id", ondelete="SET NULL"), doc="The knowledge-base copy of the result."
    )
    suggested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    observed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
