"""Routes for family models: metadata with lineage, predictions, and weights as safetensors."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from service.api.families import FamiliesDep, FamilyModelOut
from service.deps import ReadKey, SettingsDep
from service.usecases import families as uc

router = APIRouter(prefix="/v1/models", tags=["models"])

ModelId = Annotated[int, Path(ge=1, le=2**31 - 1, description="A model id")]
SAFETENSORS = "application/vnd.safetensors"


class PredictIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rows: list[dict[str, Any]] = Field(min_length=1, max_length=100_000, description="Feature rows.")


class PredictOut(BaseModel):
    model_id: int
    predictions: list[float]


@router.get("/{model_id}", response_model=FamilyModelOut, summary="A model: metadata and lineage")
def get_model(model_id: ModelId, families: FamiliesDep, _: ReadKey) -> FamilyModelOut:
    return FamilyModelOut.of(families.get_model(model_id))


@router.post("/{model_id}/predict", response_model=PredictOut, summary="Predict with a stored model")
async def predict(
    model_id: ModelId, body: PredictIn, families: FamiliesDep, settings: SettingsDep, _: ReadKey
) -> PredictOut:
    values = await run_in_threadpool(uc.predict, families, settings, model_id, body.rows)
    return PredictOut(model_id=model_id, predictions=values)


@router.get(
    "/{model_id}/weights",
    response_class=Response,
    responses={
        200: {"content": {SAFETENSORS: {}}, "description": "The weights (safetensors, never pickle)."},
        410: {"description": "A model made before migration 0007 whose file is not on this machine."},
    },
    summary="Download a model's weights as safetensors",
)
def weights(model_id: ModelId, families: FamiliesDep, settings: SettingsDep, _: ReadKey) -> Response:
    data = uc.weights(families, settings, model_id)
    disposition = f'attachment; filename="model-{model_id}.safetensors"'
    return Response(data, media_type=SAFETENSORS, headers={"Content-Disposition": disposition})
