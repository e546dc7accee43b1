"""Route for reporting evaluation results, one or a batch, idempotently."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Header, Response, status
from fastapi.concurrency import run_in_threadpool

from service.deps import StoreDep, WriteKey
from service.schemas import EvaluationBatchIn, EvaluationIn, EvaluationOut, EvaluationsReported
from service.usecases.report import report_evaluations

router = APIRouter(prefix="/v1/evaluations", tags=["evaluations"])


@router.post(
    "",
    response_model=EvaluationsReported,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"model": EvaluationsReported, "description": "Every item was a replay."}},
    summary="Report one evaluation result or a batch",
)
async def report(
    response: Response,
    store: StoreDep,
    _: WriteKey,
    body: Annotated[EvaluationIn | EvaluationBatchIn, Body()],
    idempotency_key: Annotated[
        str | None,
        Header(
            min_length=1,
            max_length=200,
            description="Retries with the same key store the result once. In a batch, item i "
            "is stored under KEY/i.",
        ),
    ] = None,
) -> EvaluationsReported:
    items = body.evaluations if isinstance(body, EvaluationBatchIn) else [body]
    stored = await run_in_threadpool(report_evaluations, store, items, idempotency_key)
    created = sum(s.created for s in stored)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return EvaluationsReported(
        evaluations=[EvaluationOut.of(s.record) for s in stored],
        created=created,
        replayed=len(stored) - created,
    )
