"""Routes for datasets: intake, listing, details, deletion, neighbours and leaderboards."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException

from metastore.records import DatasetFilter
from service.deps import AdminKey, ReadKey, SettingsDep, StoreDep, WriteKey
from service.problems import IntakeError, InvalidRequest, UnsupportedMediaType
from service.schemas import (
    DatasetOut,
    DatasetPage,
    DatasetRowsIn,
    EvaluationOut,
    LeaderboardOut,
    NeighborOut,
    NeighborsOut,
    TaskTypeStr,
)
from service.usecases.ingest import (
    IntakeRequest,
    ParsedTable,
    dataset_name,
    ingest,
    parse_table,
    parse_task_type,
    rows_to_frame,
)
from service.usecases.neighbors import nearest_datasets

router = APIRouter(prefix="/v1/datasets", tags=["datasets"])

MAX_INT = 2**31 - 1  # the databases' INTEGER range; beyond it no row can match
DatasetId = Annotated[int, Path(ge=1, le=MAX_INT, description="A dataset id")]
LOWER_IS_BETTER = {"log_loss", "rmse", "mae", "mse", "fit_time", "predict_time"}

_UPLOAD_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "target"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "CSV, TSV (optionally .gz), Parquet or ARFF.",
                        },
                        "target": {"type": "string", "description": "The target column."},
                        "name": {"type": "string"},
                        "task_type": {"type": "string", "enum": ["classification", "regression"]},
                        "description": {"type": "string"},
                        "origin_group": {"type": "string"},
                    },
                }
            },
            "application/json": {"schema": {"$ref": "#/components/schemas/DatasetRowsIn"}},
        },
    }
}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=DatasetOut,
    openapi_extra=_UPLOAD_DOC,
    responses={200: {"model": DatasetOut, "description": "The same content was stored before."}},
    summary="Upload a dataset (multipart file or JSON rows)",
)
async def create_dataset(
    request: Request, response: Response, store: StoreDep, settings: SettingsDep, _: WriteKey
) -> DatasetOut:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "multipart/form-data":
        intake, raw, parsed = await _from_multipart(request)
    elif ctype == "application/json":
        intake, raw, parsed = await _from_json(request)
    else:
        raise UnsupportedMediaType(
            f"Content-Type {ctype or '<none>'!r} is not accepted here. Send multipart/form-data "
            "with a file and a target field, or application/json with name, target and rows."
        )
    record, created = await run_in_threadpool(
        ingest,
        store,
        settings.uploads_dir,
        intake,
        raw,
        parsed,
        settings.min_rows,
        settings.max_columns,
    )
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    response.headers["Location"] = f"/v1/datasets/{record.id}"
    return DatasetOut.of(record)


async def _from_multipart(request: Request) -> tuple[IntakeRequest, bytes, ParsedTable]:
    try:
        form = await request.form(max_files=1, max_fields=20)
    except MultiPartException as exc:
        raise IntakeError(f"The multipart body cannot be read: {exc.message}.") from exc
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise IntakeError("Send the data as a file field named 'file' in the multipart form.")
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    target = fields.get("target", "").strip()
    if not target:
        raise IntakeError("Name the target column in a form field 'target'.")
    raw = await upload.read()
    parsed = await run_in_threadpool(parse_table, upload.filename, raw)
    name = fields.get("name") or dataset_name(upload.filename) or "dataset"
    return (
        IntakeRequest(
            name=name[:255],
            target=target,
            task_type=parse_task_type(fields.get("task_type")),
            description=fields.get("description", "")[:10_000],
            origin_group=(fields.get("origin_group") or None),
        ),
        raw,
        parsed,
    )


async def _from_json(request: Request) -> tuple[IntakeRequest, None, ParsedTable]:
    from pydantic import ValidationError

    try:
        body = DatasetRowsIn.model_validate_json(await request.body())
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"])) or "body"
        raise InvalidRequest(
            f"The JSON body is not a dataset ({where}: {first['msg']}). "
            'Send {"name": ..., "target": ..., "rows": [{column: value, ...}, ...]}.'
        ) from exc
    if not body.rows:
        raise IntakeError("The JSON body has no rows.")
    frame = rows_to_frame(body.rows)
    return (
        IntakeRequest(
            name=body.name,
            target=body.target,
            task_type=body.task_type,
            description=body.description,
            origin_group=body.origin_group,
        ),
        None,
        ParsedTable(frame, "json"),
    )


@router.get("", response_model=DatasetPage, summary="List datasets")
def list_datasets(
    store: StoreDep,
    _: ReadKey,
    task_type: TaskTypeStr | None = None,
    name: Annotated[str | None, Query(max_length=255, description="Substring of the name")] = None,
    min_rows: Annotated[int | None, Query(ge=0, le=MAX_INT)] = None,
    max_rows: Annotated[int | None, Query(ge=0, le=MAX_INT)] = None,
    min_features: Annotated[int | None, Query(ge=0, le=MAX_INT)] = None,
    max_features: Annotated[int | None, Query(ge=0, le=MAX_INT)] = None,
    content_hash: Annotated[
        str | None,
        Query(pattern="^[0-9a-f]{64}$", description="The dataset's fingerprint (SHA-256 of its content)"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
) -> DatasetPage:
    page = store.list_datasets(
        DatasetFilter(task_type, name, min_rows, max_rows, min_features, max_features, content_hash),
        limit,
        offset,
    )
    return DatasetPage(
        items=[DatasetOut.of(r, with_metafeatures=False) for r in page.items],
        total=page.total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/{dataset_id}", response_model=DatasetOut, summary="One dataset with its meta-features")
def get_dataset(dataset_id: DatasetId, store: StoreDep, _: ReadKey) -> DatasetOut:
    return DatasetOut.of(store.get_dataset(dataset_id))


@router.delete("/{dataset_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a dataset (admin)")
def delete_dataset(dataset_id: DatasetId, store: StoreDep, settings: SettingsDep, _: AdminKey) -> Response:
    record = store.delete_dataset(dataset_id)
    if record.raw_file:
        (settings.uploads_dir / record.raw_file).unlink(missing_ok=True)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{dataset_id}/neighbors",
    response_model=NeighborsOut,
    summary="Nearest prior datasets in the scaled meta-feature space",
)
def neighbors(
    dataset_id: DatasetId, store: StoreDep, _: ReadKey, k: Annotated[int, Query(ge=1, le=100)] = 5
) -> NeighborsOut:
    record = store.get_dataset(dataset_id)
    found = nearest_datasets(store, record, k)
    return NeighborsOut(
        dataset_id=record.id,
        k=k,
        metafeatures_version=record.metafeatures.version if record.metafeatures else None,
        neighbors=[
            NeighborOut(dataset=DatasetOut.of(r, with_metafeatures=False), distance=d) for r, d in found
        ],
    )


@router.get(
    "/{dataset_id}/evaluations",
    response_model=LeaderboardOut,
    summary="The dataset's leaderboard, sorted by a metric",
)
def leaderboard(
    dataset_id: DatasetId,
    store: StoreDep,
    _: ReadKey,
    sort: Annotated[str, Query(max_length=64, description="A metric name, or fit_time")] = "",
    order: Literal["asc", "desc"] | None = None,
    protocol: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
) -> LeaderboardOut:
    record = store.get_dataset(dataset_id)
    rows = store.list_evaluations(dataset_id=record.id, protocol=protocol)
    metric = sort or ("accuracy" if record.task_type == "classification" else "r2")
    direction = order or ("asc" if metric in LOWER_IS_BETTER else "desc")

    def key(e) -> tuple[int, float]:  # type: ignore[no-untyped-def]
        value = getattr(e, metric, None) if metric in ("fit_time", "predict_time") else e.metrics.get(metric)
        if value is None:
            return (1, 0.0)  # missing values last, whatever the order
        return (0, -value if direction == "desc" else value)

    rows = sorted(rows, key=key)
    return LeaderboardOut(
        dataset_id=record.id,
        sort=metric,
        order=direction,
        total=len(rows),
        items=[EvaluationOut.of(e) for e in rows[offset : offset + limit]],
    )
