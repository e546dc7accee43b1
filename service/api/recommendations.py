"""Route for zero-shot recommendations: the configurations to train first on a dataset."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from service.deps import ReadKey, StoreDep
from service.schemas import LearnerModelOut, RecommendationRequest, RecommendationsOut
from service.usecases.recommend import recommend

router = APIRouter(prefix="/v1", tags=["recommendations"])


@router.post(
    "/recommendations",
    response_model=RecommendationsOut,
    summary="The configurations most likely to do well on a stored dataset, with reasons",
)
async def recommendations(
    body: RecommendationRequest, request: Request, store: StoreDep, _: ReadKey
) -> RecommendationsOut:
    def answer() -> dict:  # one trip to the thread pool: the dataset read and the ranking
        dataset = store.get_dataset(body.dataset_id)
        return recommend(
            request.app.state.recommenders,
            dataset,
            body.k,
            body.method,
            body.metric,
            body.families,
            body.time_budget_s,
        )

    return RecommendationsOut.model_validate(await run_in_threadpool(answer))


@router.get("/learner-models", response_model=list[LearnerModelOut], summary="Stored fitted recommenders")
def learner_models(store: StoreDep, _: ReadKey) -> list[LearnerModelOut]:
    return [LearnerModelOut.model_validate(m, from_attributes=True) for m in store.list_learner_models()]
