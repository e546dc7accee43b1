"""Routes for studies: create one, ask for the next configurations, report results, follow the run."""

from __future__ import annotations

import threading
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool

from metastore.studies import SqlStudyStore, StudyStore
from service.deps import ReadKey, SettingsDep, StoreDep, WriteKey
from service.schemas_studies import (
    MAX_SUGGESTIONS,
    ObservationIn,
    ObservationOut,
    StudyDetailOut,
    StudyIn,
    StudyOut,
    StudyPage,
    SuggestionsOut,
    TrialOut,
)
from service.usecases import studies as uc

router = APIRouter(prefix="/v1/studies", tags=["studies"])

MAX_INT = 2**31 - 1
StudyId = Annotated[int, Path(ge=1, le=MAX_INT, description="A study id")]
_state_lock = threading.Lock()


def get_studies(request: Request) -> StudyStore:
    state = request.app.state
    with _state_lock:
        if getattr(state, "studies", None) is None:
            state.studies = SqlStudyStore(state.store.engine)
        return state.studies


def get_surrogates(request: Request) -> uc.SurrogateRegistry:
    state = request.app.state
    with _state_lock:  # one registry per app: its cache is what makes surrogates cheap
        if getattr(state, "surrogates", None) is None:
            state.surrogates = uc.SurrogateRegistry(state.store)
        return state.surrogates


StudiesDep = Annotated[StudyStore, Depends(get_studies)]
SurrogatesDep = Annotated[uc.SurrogateRegistry, Depends(get_surrogates)]


@router.post(
    "",
    response_model=StudyOut,
    status_code=status.HTTP_201_CREATED,
    summary="Start a study: a tuning run on a stored dataset, in one family's space or across families",
)
async def create_study(
    body: StudyIn,
    store: StoreDep,
    settings: SettingsDep,
    studies: StudiesDep,
    surrogates: SurrogatesDep,
    _: WriteKey,
) -> StudyOut:
    default_timeout = settings.study_pending_timeout_s
    study = await run_in_threadpool(uc.create_study, store, studies, body, default_timeout)
    if study.n_initial > 0:  # the zero-shot trials leave time to get the surrogates ready
        surrogates.warm(study.families, study.task_type, study.metric)  # type: ignore[arg-type]
    return StudyOut.of(study)


@router.get("", response_model=StudyPage, summary="List studies, newest first")
def list_studies(
    studies: StudiesDep,
    _: ReadKey,
    dataset_id: Annotated[int | None, Query(ge=1, le=MAX_INT)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
) -> StudyPage:
    page = studies.list_studies(dataset_id, limit, offset)
    return StudyPage(items=[StudyOut.of(s) for s in page.items], total=page.total, limit=limit, offset=offset)


@router.get(
    "/{study_id}", response_model=StudyDetailOut, summary="A study's trajectory and the best trial so far"
)
def get_study(study_id: StudyId, studies: StudiesDep, _: ReadKey) -> StudyDetailOut:
    return uc.study_detail(studies, study_id)


@router.post(
    "/{study_id}/suggest",
    response_model=SuggestionsOut,
    summary="The next configurations to try; each is handed out once, pending ones are never repeated",
)
async def suggest(
    study_id: StudyId,
    request: Request,
    store: StoreDep,
    studies: StudiesDep,
    surrogates: SurrogatesDep,
    _: WriteKey,
    n: Annotated[int, Query(ge=1, le=MAX_SUGGESTIONS, description="How many configurations.")] = 1,
) -> SuggestionsOut:
    answer = await run_in_threadpool(
        uc.suggest, store, studies, request.app.state.recommenders, surrogates, study_id, n
    )
    return SuggestionsOut(
        study_id=study_id,
        suggestions=[TrialOut.of(t) for t in answer["suggestions"]],
        zero_shot_version=answer["zero_shot_version"],
        surrogate_versions=answer["surrogate_versions"],
    )


@router.post(
    "/{study_id}/observations",
    response_model=ObservationOut,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"model": ObservationOut, "description": "The same result was recorded before."}},
    summary="Report a trial's result (or its failure); it also enters the knowledge base",
)
async def observe(
    study_id: StudyId,
    body: ObservationIn,
    response: Response,
    store: StoreDep,
    studies: StudiesDep,
    _: WriteKey,
) -> ObservationOut:
    trial, created = await run_in_threadpool(uc.observe, store, studies, study_id, body)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return ObservationOut(study_id=study_id, trial=TrialOut.of(trial), created=created)
