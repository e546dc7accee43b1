"""A typed HTTP client for the warmstart API: retries on 503 and connection errors, problem+json errors."""

from __future__ import annotations

import io
import json
import os
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from warmstart.results import ResultsDataset, ResultsFile, load_results

DEFAULT_URL = "http://127.0.0.1:8000"
RETRY_STATUSES = {502, 503, 504}


class ApiError(Exception):
    """The service answered with an error; carries the problem+json details."""

    def __init__(self, status: int, title: str, detail: str, body: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {title}: {detail}")
        self.status = status
        self.title = title
        self.detail = detail
        self.body = body or {}


class ServiceUnavailable(ApiError):
    """The service could not be reached, or kept answering 503, within the retries."""


class WarmstartClient:
    """Talks to a warmstart service. URL and key default to WARMSTART_URL and WARMSTART_API_KEY;
    timeout (seconds) and retries to WARMSTART_TIMEOUT and WARMSTART_RETRIES, else 30 and 4.

    Idempotent writes (evaluation reports) carry an Idempotency-Key made here, so that a retry
    after a lost answer stores the result once.
    """

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        timeout: float | None = None,
        retries: int | None = None,
        backoff: float = 0.5,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = (url or os.environ.get("WARMSTART_URL") or DEFAULT_URL).rstrip("/")
        key = api_key or os.environ.get("WARMSTART_API_KEY")
        headers = {"X-API-Key": key} if key else {}
        self.retries = retries if retries is not None else int(os.environ.get("WARMSTART_RETRIES", 4))
        self.backoff = backoff
        timeout = timeout if timeout is not None else float(os.environ.get("WARMSTART_TIMEOUT", 30.0))
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout, transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> WarmstartClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport ---------------------------------------------------------------------------
    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            try:
                response = self._http.request(method, path, **kwargs)
            except (
                httpx.ConnectError,
                httpx.ReadTimeout,
                httpx.RemoteProtocolError,
                httpx.WriteError,
            ) as exc:
                last = exc
                wait = self.backoff * 2**attempt
            else:
                if response.status_code not in RETRY_STATUSES:
                    if response.status_code >= 400:
                        raise _error(response)
                    return response
                last = _error(response)
                wait = _retry_after(response, self.backoff * 2**attempt)
            if attempt < self.retries:
                time.sleep(min(wait, 30.0))
        if isinstance(last, ApiError):
            raise ServiceUnavailable(last.status, last.title, last.detail, last.body) from last
        raise ServiceUnavailable(0, "Service unreachable", f"{self.url}: {last}") from last

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._request(method, path, **kwargs).json()

    # -- health ------------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        return self._json("GET", "/healthz")

    def ready(self) -> dict[str, Any]:
        return self._json("GET", "/readyz")

    # -- datasets ----------------------------------------------------------------------------
    def upload_dataset(
        self,
        data: str | Path | Any,
        target: str,
        name: str | None = None,
        task_type: str | None = None,
        description: str = "",
        origin_group: str | None = None,
    ) -> dict[str, Any]:
        """Upload a file path or a pandas DataFrame; returns the stored dataset (new or existing)."""
        fields = {"target": target, "description": description}
        for key, value in (("name", name), ("task_type", task_type), ("origin_group", origin_group)):
            if value:
                fields[key] = value
        files = {"file": _file_part(data, name or "dataframe")}
        return self._json("POST", "/v1/datasets", files=files, data=fields)

    def get_dataset(self, dataset_id: int) -> dict[str, Any]:
        return self._json("GET", f"/v1/datasets/{dataset_id}")

    def list_datasets(self, **filters: Any) -> dict[str, Any]:
        return self._json("GET", "/v1/datasets", params={k: v for k, v in filters.items() if v is not None})

    def delete_dataset(self, dataset_id: int) -> None:
        self._request("DELETE", f"/v1/datasets/{dataset_id}")

    def find_dataset(self, content_hash: str) -> dict[str, Any] | None:
        """The stored dataset with this fingerprint (content hash), or None."""
        page = self._json("GET", "/v1/datasets", params={"content_hash": content_hash, "limit": 1})
        return page["items"][0] if page["items"] else None

    def neighbors(self, dataset_id: int, k: int = 5) -> dict[str, Any]:
        return self._json("GET", f"/v1/datasets/{dataset_id}/neighbors", params={"k": k})

    def leaderboard(self, dataset_id: int, sort: str | None = None, **params: Any) -> dict[str, Any]:
        params = {"sort": sort, **params}
        return self._json(
            "GET", f"/v1/datasets/{dataset_id}/evaluations", params={k: v for k, v in params.items() if v}
        )

    # -- evaluations, spaces, configurations ----------------------------------------------------
    def report_evaluations(
        self, evaluations: Sequence[Mapping[str, Any]], idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """Report results; one key (made here unless given) covers the batch across retries."""
        key = idempotency_key or f"client-{uuid.uuid4().hex}"
        body: Any = dict(evaluations[0]) if len(evaluations) == 1 else {"evaluations": list(evaluations)}
        return self._json("POST", "/v1/evaluations", json=body, headers={"Idempotency-Key": key})

    def report_results(self, results: ResultsFile | str | Path) -> dict[str, Any]:
        """Send a results file (see warmstart.results); resending the same file stores nothing twice."""
        doc = results if isinstance(results, ResultsFile) else load_results(results)
        dataset = self._results_dataset(doc.dataset)
        created = replayed = 0
        for key, batch in doc.batches(dataset["id"]):
            answer = self.report_evaluations(batch, idempotency_key=key)
            created, replayed = created + answer["created"], replayed + answer["replayed"]
        return {"dataset_id": dataset["id"], "created": created, "replayed": replayed}

    def _results_dataset(self, ref: ResultsDataset) -> dict[str, Any]:
        if ref.id is not None:
            return self.get_dataset(ref.id)
        if ref.content_hash is not None and (found := self.find_dataset(ref.content_hash)):
            return found
        if ref.file is None:
            raise ApiError(
                404,
                "Dataset not found",
                f"no stored dataset has content_hash {ref.content_hash}; add `file` and `target` to the "
                "results file's dataset so that it is uploaded",
            )
        return self.upload_dataset(ref.file, ref.target or "", task_type=ref.task_type)

    def search_spaces(self) -> list[dict[str, Any]]:
        return self._json("GET", "/v1/search-spaces")

    def get_configuration(self, configuration_id: int) -> dict[str, Any]:
        return self._json("GET", f"/v1/configurations/{configuration_id}")

    # -- recommendations ---------------------------------------------------------------------------
    def recommend(
        self,
        dataset_id: int,
        k: int = 5,
        method: str = "learned",
        metric: str | None = None,
        families: Sequence[str] | None = None,
        time_budget_s: float | None = None,
    ) -> dict[str, Any]:
        """The configurations to train first on a stored dataset, with expected scores and reasons."""
        body: dict[str, Any] = {"dataset_id": dataset_id, "k": k, "method": method}
        for key, value in (("metric", metric), ("families", families), ("time_budget_s", time_budget_s)):
            if value is not None:
                body[key] = list(value) if key == "families" else value
        return self._json("POST", "/v1/recommendations", json=body)

    def learner_models(self) -> list[dict[str, Any]]:
        return self._json("GET", "/v1/learner-models")

    def fit_learners(
        self,
        methods: Sequence[str] | None = None,
        task_types: Sequence[str] | None = None,
        metric: str | None = None,
    ) -> dict[str, Any]:
        """Start a job that refits the recommenders on the knowledge base as it is now; returns the
        job (follow it with `wait_for_job` or `job_events`)."""
        body: dict[str, Any] = {}
        if methods is not None:
            body["methods"] = list(methods)
        if task_types is not None:
            body["task_types"] = list(task_types)
        if metric is not None:
            body["metric"] = metric
        return self._json("POST", "/v1/learner-models/fit", json=body)

    # -- studies (tuning runs the service steers) -------------------------------------------------
    def create_study(
        self,
        dataset_id: int,
        space: str = "auto",
        families: Sequence[str] | None = None,
        metric: str | None = None,
        direction: str | None = None,
        n_initial: int = 5,
        seed: int = 0,
        name: str = "",
        pending_timeout_s: float | None = None,
    ) -> dict[str, Any]:
        """Start a study on a stored dataset: one family's space, or `auto` across families.

        A trial handed out and not reported within `pending_timeout_s` seconds (default: the
        server's WARMSTART_STUDY_PENDING_TIMEOUT_S) expires: a crashed worker stops blocking it."""
        body: dict[str, Any] = {
            "dataset_id": dataset_id,
            "space": space,
            "n_initial": n_initial,
            "seed": seed,
        }
        body.update(_present({"metric": metric, "direction": direction, "name": name or None,
                              "pending_timeout_s": pending_timeout_s}))
        if families is not None:
            body["families"] = list(families)
        return self._json("POST", "/v1/studies", json=body)

    def list_studies(self, dataset_id: int | None = None, limit: int = 50, offset: int = 0) -> dict[str, Any]:
        params = _present({"dataset_id": dataset_id, "limit": limit, "offset": offset})
        return self._json("GET", "/v1/studies", params=params)

    def get_study(self, study_id: int) -> dict[str, Any]:
        """The study with its trajectory (every trial in order) and its best trial so far."""
        return self._json("GET", f"/v1/studies/{study_id}")

    def suggest(self, study_id: int, n: int = 1, timeout: float = 300.0) -> dict[str, Any]:
        """The next `n` configurations (each handed out once). The first one past the zero-shot
        trials may wait for the surrogates to meta-train, hence the longer timeout."""
        path = f"/v1/studies/{study_id}/suggest"
        return self._json("POST", path, params={"n": n}, timeout=timeout)

    def observe(
        self,
        study_id: int,
        trial_id: int,
        score: float | None = None,
        status: str = "ok",
        metrics: Mapping[str, float | None] | None = None,
        fit_time: float | None = None,
        predict_time: float | None = None,
        error: str | None = None,
        protocol: str = "user",
    ) -> dict[str, Any]:
        """Report a suggested trial's result (or failure); resending the same result is harmless."""
        body: dict[str, Any] = {"trial_id": trial_id, "status": status, "protocol": protocol}
        body.update(
            _present(
                {
                    "score": score,
                    "metrics": dict(metrics) if metrics is not None else None,
                    "fit_time": fit_time,
                    "predict_time": predict_time,
                    "error": error,
                }
            )
        )
        return self._json("POST", f"/v1/studies/{study_id}/observations", json=body)

    # -- jobs --------------------------------------------------------------------------------------
    def list_jobs(
        self, state: str | None = None, kind: str | None = None, limit: int = 50, offset: int = 0
    ) -> dict[str, Any]:
        params = {"state": state, "kind": kind, "limit": limit, "offset": offset}
        return self._json("GET", "/v1/jobs", params=_present(params))

    def get_job(self, job_id: int) -> dict[str, Any]:
        return self._json("GET", f"/v1/jobs/{job_id}")

    def cancel_job(self, job_id: int) -> dict[str, Any]:
        """Cancel a queued job at once, a running one at its next step; returns the job."""
        return self._json("POST", f"/v1/jobs/{job_id}/cancel")

    def job_events(self, job_id: int, after: int | None = None) -> Iterator[dict[str, Any]]:
        """Follow a job's server-sent events until its final one; reconnects from the last event seen."""
        last = after
        for attempt in range(self.retries + 1):
            try:
                for event in self._sse(f"/v1/jobs/{job_id}/events", last):
                    last = event["id"]
                    yield event
                return
            except ServiceUnavailable:  # a 502/503/504 before the stream started
                if attempt == self.retries:
                    raise
                time.sleep(min(self.backoff * 2**attempt, 30.0))
            except (httpx.ConnectError, httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.ReadError) as exc:
                if attempt == self.retries:
                    raise ServiceUnavailable(0, "Service unreachable", f"{self.url}: {exc}") from exc
                time.sleep(min(self.backoff * 2**attempt, 30.0))

    def _sse(self, path: str, after: int | None) -> Iterator[dict[str, Any]]:
        params = {} if after is None else {"after": after}
        with self._http.stream("GET", path, params=params) as response:
            if response.status_code >= 400:
                response.read()
                raise _error(response)
            data: list[str] = []
            for line in response.iter_lines():
                if line.startswith("data:"):
                    data.append(line[5:].strip())
                elif not line and data:  # a blank line ends an event
                    yield json.loads("\n".join(data))
                    data = []

    def wait_for_job(self, job_id: int, timeout: float = 600.0) -> dict[str, Any]:
        """Follow a job until it is final (succeeded, failed or cancelled) and return it."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.get_job(job_id)
            if job["state"] in ("succeeded", "failed", "cancelled"):
                return job
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} is still {job['state']} after {timeout:.0f} s")
            for _ in self.job_events(job_id, after=None):
                if time.monotonic() > deadline:
                    break

    # -- task families and their models -------------------------------------------------------------
    def create_family(
        self,
        name: str,
        features: Sequence[str],
        target: str,
        task_type: str = "regression",
        algorithm: str = "maml",
        model: Mapping[str, Any] | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Declare a task family (columns, target, meta-learning algorithm and its settings)."""
        body: dict[str, Any] = {
            "name": name,
            "features": list(features),
            "target": target,
            "task_type": task_type,
            "algorithm": algorithm,
        }
        body.update(_present({"model": model, "meta": meta}))
        return self._json("POST", "/v1/families", json=body)

    def list_families(self) -> list[dict[str, Any]]:
        return self._json("GET", "/v1/families")

    def get_family(self, family_id: int) -> dict[str, Any]:
        return self._json("GET", f"/v1/families/{family_id}")

    def add_tasks(
        self,
        family_id: int,
        data: str | Path | Sequence[Mapping[str, Any]] | Any,
        name: str = "task",
        group_column: str | None = None,
    ) -> list[dict[str, Any]]:
        """Add prior tasks from a file path, a pandas DataFrame or JSON rows; group_column splits them."""
        path = f"/v1/families/{family_id}/tasks"
        if isinstance(data, Sequence) and not isinstance(data, str):
            body = {"name": name, "rows": [dict(r) for r in data], **_present({"group_column": group_column})}
            return self._json("POST", path, json=body)
        fields = {"name": name, **_present({"group_column": group_column})}
        return self._json("POST", path, files={"file": _file_part(data, name)}, data=fields)

    def list_tasks(self, family_id: int) -> list[dict[str, Any]]:
        return self._json("GET", f"/v1/families/{family_id}/tasks")

    def meta_train(self, family_id: int, **settings: Any) -> dict[str, Any]:
        """Start meta-training (iterations, meta_batch_size, ...); returns the job to follow."""
        return self._json("POST", f"/v1/families/{family_id}/meta-train", json=settings or None)

    def adapt(
        self,
        family_id: int,
        support: Sequence[Mapping[str, Any]],
        query: Sequence[Mapping[str, Any]] | None = None,
        **settings: Any,
    ) -> dict[str, Any]:
        """Fine-tune on a new task's support rows; a long adaptation comes back with `job` set."""
        body: dict[str, Any] = {"support": [dict(r) for r in support], **settings}
        if query is not None:
            body["query"] = [dict(r) for r in query]
        return self._json("POST", f"/v1/families/{family_id}/adapt", json=body)

    def list_family_models(self, family_id: int) -> list[dict[str, Any]]:
        return self._json("GET", f"/v1/families/{family_id}/models")

    def get_model(self, model_id: int) -> dict[str, Any]:
        return self._json("GET", f"/v1/models/{model_id}")

    def predict(self, model_id: int, rows: Sequence[Mapping[str, Any]]) -> list[float]:
        body = {"rows": [dict(r) for r in rows]}
        return self._json("POST", f"/v1/models/{model_id}/predict", json=body)["predictions"]

    def model_weights(self, model_id: int, path: str | Path | None = None) -> bytes:
        """A model's weights as safetensors bytes (also written to `path` when given)."""
        content = self._request("GET", f"/v1/models/{model_id}/weights").content
        if path is not None:
            Path(path).write_bytes(content)
        return content


def _present(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _file_part(data: str | Path | Any, name: str) -> tuple[str, bytes]:
    """A multipart file from a path, or a pandas DataFrame as Parquet."""
    if isinstance(data, str | Path):
        path = Path(data)
        return path.name, path.read_bytes()
    buf = io.BytesIO()
    data.to_parquet(buf, index=False)
    return f"{name or 'dataframe'}.parquet", buf.getvalue()


def _error(response: httpx.Response) -> ApiError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    title = str(body.get("title") or response.reason_phrase or "HTTP error")
    detail = str(body.get("detail") or response.text[:500])
    cls = ServiceUnavailable if response.status_code in RETRY_STATUSES else ApiError
    return cls(response.status_code, title, detail, body)


def _retry_after(response: httpx.Response, default: float) -> float:
    try:
        return max(0.0, float(response.headers.get("retry-after", default)))
    except ValueError:
        return default
