"""A typed HTTP client for the warmstart API: retries on 503 and connection errors, problem+json errors."""

from __future__ import annotations

import io
import os
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

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
    """Talks to a warmstart service. URL and key default to WARMSTART_URL and WARMSTART_API_KEY.

    Idempotent writes (evaluation reports) carry an Idempotency-Key made here, so that a retry
    after a lost answer stores the result once.
    """

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        timeout: float = 30.0,
        retries: int = 4,
        backoff: float = 0.5,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = (url or os.environ.get("WARMSTART_URL") or DEFAULT_URL).rstrip("/")
        key = api_key or os.environ.get("WARMSTART_API_KEY")
        headers = {"X-API-Key": key} if key else {}
        self.retries = retries
        self.backoff = backoff
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
        if isinstance(data, str | Path):
            path = Path(data)
            files = {"file": (path.name, path.read_bytes())}
        else:
            buf = io.BytesIO()
            data.to_parquet(buf, index=False)
            files = {"file": (f"{name or 'dataframe'}.parquet", buf.getvalue())}
        return self._json("POST", "/v1/datasets", files=files, data=fields)

    def get_dataset(self, dataset_id: int) -> dict[str, Any]:
        return self._json("GET", f"/v1/datasets/{dataset_id}")

    def list_datasets(self, **filters: Any) -> dict[str, Any]:
        return self._json("GET", "/v1/datasets", params={k: v for k, v in filters.items() if v is not None})

    def delete_dataset(self, dataset_id: int) -> None:
        self._request("DELETE", f"/v1/datasets/{dataset_id}")

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
