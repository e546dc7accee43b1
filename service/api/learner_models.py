"""Route to refit the recommenders as a job (`learners.fit`); GET /v1/learner-models lists the results."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from service.deps import StoreDep, WriteKey
from service.jobs.handlers import submit
from service.jobs.schemas import JobOut
from service.jobs.worker import jobs_for
from service.usecases.learners_fit import LearnersFitArguments

router = APIRouter(prefix="/v1/learner-models", tags=["recommendations"])


@router.post(
    "/fit",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobOut,
    summary="Start a job that refits the recommenders on the knowledge base as it is now",
)
def start_fit(
    store: StoreDep, response: Response, _: WriteKey, body: LearnersFitArguments | None = None
) -> JobOut:
    arguments = (body or LearnersFitArguments()).model_dump(mode="json")
    job = submit(jobs_for(store), "learners.fit", arguments)
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    return JobOut.of(job)
