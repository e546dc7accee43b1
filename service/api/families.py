"""Routes for task families: declare, add prior tasks, meta-train (a job), adapt to a new task."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException

from metastore.families import (
    FamilyModelRecord,
    FamilyRecord,
    FamilyStore,
    FamilyTaskRecord,
)
from service.deps import ReadKey, SettingsDep, StoreDep, WriteKey
from service.jobs.handlers import submit
from service.jobs.schemas import JobOut
from service.jobs.worker import jobs_for
from service.problems import IntakeError, InvalidRequest, UnsupportedMediaType
from service.usecases import families as uc
from service.usecases.ingest import parse_table, rows_to_frame

router = APIRouter(prefix="/v1/families", tags=["families"])

MAX_INT = 2**31 - 1
FamilyId = Annotated[int, Path(ge=1, le=MAX_INT, description="A family id")]
Name = Annotated[str, Field(min_length=1, max_length=255)]


def get_families(store: StoreDep) -> FamilyStore:
    return uc.families_for(store)


FamiliesDep = Annotated[FamilyStore, Depends(get_families)]


class ModelSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["mlp"] = "mlp"
    hidden: list[Annotated[int, Field(ge=1, le=4096)]] = Field(default=[40, 40], max_length=8)
    embedding: int = Field(default=16, ge=1, le=4096, description="Output width of a protonet embedding.")


class MetaSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    inner_lr: float = Field(default=0.01, gt=0, le=10)
    inner_steps: int = Field(default=1, ge=1, le=100)
    multi_step_loss: bool = Field(
        default=False,
        description="Meta-train on the mean query loss after each inner step (MAML++), so the "
        "initialisation adapts well in one step and keeps improving over more; needs inner_steps "
        ">= 2 and maml, fomaml, metasgd or anil.",
    )
    outer_lr: float = Field(default=1e-3, gt=0, le=10)
    shots: int = Field(default=5, ge=1, le=10_000, description="Support rows per meta-training task.")
    query: int = Field(default=10, ge=1, le=10_000, description="Query rows per meta-training task.")
    n_way: int = Field(default=2, ge=2, le=1_000, description="Classes per protonet training task.")
    seed: int = Field(default=0, ge=0, le=MAX_INT)


class FamilyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    features: list[Name] = Field(min_length=1, max_length=5_000)
    target: Name
    task_type: Literal["regression", "classification"] = "regression"
    algorithm: str = Field(
        default="maml", max_length=32, description="maml, fomaml, reptile, metasgd, anil, protonet"
    )
    model: ModelSpec = ModelSpec()
    meta: MetaSpec = MetaSpec()

    def settings(self) -> dict[str, Any]:
        """The family's stored settings: meta-learning ones, then the network's sizes."""
        return {**self.meta.model_dump(), "hidden": self.model.hidden, "embedding": self.model.embedding}


class FamilyOut(BaseModel):
    id: int
    name: str
    task_type: str
    features: list[str]
    target: str
    algorithm: str
    settings: dict[str, Any]
    created_at: datetime

    @classmethod
    def of(cls, r: FamilyRecord) -> FamilyOut:
        return cls(
            id=r.id,
            name=r.name,
            task_type=r.task_type,
            features=list(r.features),
            target=r.target,
            algorithm=r.algorithm,
            settings=r.settings,
            created_at=r.created_at,
        )


class TaskOut(BaseModel):
    id: int
    family_id: int
    name: str
    n_rows: int
    content_hash: str
    created: bool = True

    @classmethod
    def of(cls, r: FamilyTaskRecord, created: bool = True) -> TaskOut:
        return cls(
            id=r.id,
            family_id=r.family_id,
            name=r.name,
            n_rows=r.n_rows,
            content_hash=r.content_hash,
            created=created,
        )


class TasksIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name = "task"
    rows: list[dict[str, Any]] = Field(min_length=1, max_length=1_000_000)
    group_column: Name | None = Field(default=None, description="Split the rows into one task per value.")


class FamilyModelOut(BaseModel):
    id: int
    family_id: int
    kind: str
    version: int
    parent_id: int | None
    support_hash: str | None
    metrics: dict[str, Any]
    created_at: datetime

    @classmethod
    def of(cls, r: FamilyModelRecord) -> FamilyModelOut:
        return cls(
            id=r.id,
            family_id=r.family_id,
            kind=r.kind,
            version=r.version,
            parent_id=r.parent_id,
            support_hash=r.support_hash,
            metrics=r.metrics,
            created_at=r.created_at,
        )


class MetaTrainIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    iterations: int = Field(default=2_000, ge=1, le=1_000_000)
    meta_batch_size: int = Field(default=16, ge=1, le=1_000)
    validate_every: int = Field(default=100, ge=1, le=100_000)
    patience: int | None = Field(default=5, ge=1, le=1_000)
    n_validation_tasks: int = Field(default=100, ge=1, le=10_000)
    pooled_steps: int = Field(default=1_000, ge=0, le=1_000_000)
    seed: int = Field(default=0, ge=0, le=MAX_INT)


class AdaptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    support: list[dict[str, Any]] = Field(min_length=1, max_length=100_000, description="Labelled rows.")
    query: list[dict[str, Any]] | None = Field(
        default=None, max_length=100_000, description="Rows to score on."
    )
    steps: int = Field(default=10, ge=0, le=100_000, description="Gradient steps from the initialisation.")
    scratch_steps: int = Field(
        default=100, ge=0, le=100_000, description="Adam steps of the from-scratch baseline."
    )
    seed: int = Field(default=0, ge=0, le=MAX_INT)


class AdaptOut(BaseModel):
    model_id: int | None = None
    family_id: int
    init_model_id: int | None = None
    init_version: int | None = None
    metrics: dict[str, Any] = {}
    baselines: dict[str, Any] = {}
    job: JobOut | None = Field(default=None, description="Set when the adaptation runs as a job (202).")


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=FamilyOut, summary="Declare a task family"
)
def create_family(body: FamilyIn, families: FamiliesDep, response: Response, _: WriteKey) -> FamilyOut:
    record = uc.declare(
        families, body.name, body.features, body.target, body.task_type, body.algorithm, body.settings()
    )
    response.headers["Location"] = f"/v1/families/{record.id}"
    return FamilyOut.of(record)


@router.get("", response_model=list[FamilyOut], summary="List task families")
def list_families(families: FamiliesDep, _: ReadKey) -> list[FamilyOut]:
    return [FamilyOut.of(r) for r in families.list_families()]


@router.get("/{family_id}", response_model=FamilyOut, summary="One task family")
def get_family(family_id: FamilyId, families: FamiliesDep, _: ReadKey) -> FamilyOut:
    return FamilyOut.of(families.get_family(family_id))


@router.post(
    "/{family_id}/tasks",
    status_code=status.HTTP_201_CREATED,
    response_model=list[TaskOut],
    summary="Add prior tasks (multipart file or JSON rows; group_column splits one table into many)",
)
async def add_tasks(
    family_id: FamilyId, request: Request, families: FamiliesDep, _: WriteKey
) -> list[TaskOut]:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "multipart/form-data":
        frame, name, group = await _tasks_from_multipart(request)
    elif ctype == "application/json":
        try:
            body = TasksIn.model_validate_json(await request.body())
        except ValidationError as exc:
            first = exc.errors()[0]
            raise InvalidRequest(
                f"The JSON body is not a task upload ({'.'.join(map(str, first['loc']))}: {first['msg']}). "
                'Send {"name": ..., "rows": [{column: value, ...}], "group_column": optional}.'
            ) from exc
        frame, name, group = rows_to_frame(body.rows), body.name, body.group_column
    else:
        raise UnsupportedMediaType(
            f"Content-Type {ctype or '<none>'!r} is not accepted here; send multipart/form-data with a "
            "file field, or application/json with rows."
        )
    stored = await run_in_threadpool(uc.add_tasks, families, family_id, frame, name, group)
    return [TaskOut.of(r, created) for r, created in stored]


async def _tasks_from_multipart(request: Request) -> tuple[Any, str, str | None]:
    try:
        form = await request.form(max_files=1, max_fields=10)
    except MultiPartException as exc:
        raise IntakeError(f"The multipart body cannot be read: {exc.message}.") from exc
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise IntakeError("Send the task's rows as a file field named 'file' in the multipart form.")
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    parsed = await run_in_threadpool(parse_table, upload.filename, await upload.read())
    name = fields.get("name") or upload.filename or "task"
    return parsed.frame, name[:255], fields.get("group_column") or None


@router.get("/{family_id}/tasks", response_model=list[TaskOut], summary="The family's prior tasks")
def list_tasks(family_id: FamilyId, families: FamiliesDep, _: ReadKey) -> list[TaskOut]:
    return [TaskOut.of(r) for r in families.list_tasks(family_id)]


@router.post(
    "/{family_id}/meta-train",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobOut,
    summary="Start a job that meta-trains the family's initialisation on its prior tasks",
)
def start_meta_train(
    family_id: FamilyId,
    families: FamiliesDep,
    store: StoreDep,
    response: Response,
    _: WriteKey,
    body: MetaTrainIn | None = None,
) -> JobOut:
    arguments = (body or MetaTrainIn()).model_dump()
    job = uc.start_meta_train(families, jobs_for(store), family_id, arguments)
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    return JobOut.of(job)


@router.post(
    "/{family_id}/adapt",
    response_model=AdaptOut,
    responses={202: {"model": AdaptOut, "description": "A long adaptation: follow the job."}},
    summary="Fine-tune the meta-trained initialisation on a new task's support set",
)
async def adapt(
    family_id: FamilyId,
    body: AdaptIn,
    families: FamiliesDep,
    store: StoreDep,
    settings: SettingsDep,
    response: Response,
    _: WriteKey,
) -> AdaptOut:
    args = uc.AdaptArguments(family_id=family_id, **body.model_dump())
    if uc.needs_job(args):
        families.get_family(family_id)
        job = submit(jobs_for(store), "family_adapt", args.model_dump(mode="json"))
        response.status_code = status.HTTP_202_ACCEPTED
        response.headers["Location"] = f"/v1/jobs/{job.id}"
        return AdaptOut(family_id=family_id, job=JobOut.of(job))
    result = await run_in_threadpool(uc.adapt, families, settings, args)
    response.headers["Location"] = f"/v1/models/{result['model_id']}"
    return AdaptOut(**result)


@router.get(
    "/{family_id}/models", response_model=list[FamilyModelOut], summary="The family's models, newest first"
)
def list_models(family_id: FamilyId, families: FamiliesDep, _: ReadKey) -> list[FamilyModelOut]:
    return [FamilyModelOut.of(r) for r in families.list_models(family_id)]
