"""The client's studies calls against a real server on a small regression knowledge base."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from metastore.sql import SqlMetaStore
from service.app import create_app
from tests.service.conftest import LiveServer, make_settings
from tests.service.studies_support import FAMILIES, build_regression_kb, fast_surrogates
from warmstart import ApiError, WarmstartClient


@pytest.fixture
def server(tmp_path: Path, sqlite_store: SqlMetaStore) -> Iterator[tuple[LiveServer, list[int]]]:
    ids = build_regression_kb(sqlite_store)
    settings = make_settings(tmp_path, str(sqlite_store.engine.url))
    settings.prepare_dirs()
    app = fast_surrogates(create_app(settings, sqlite_store), sqlite_store)
    with LiveServer(app) as live:
        yield live, ids


def test_a_study_suggest_observe_and_its_trajectory(server, sqlite_store: SqlMetaStore) -> None:
    live, ids = server
    with WarmstartClient(live.url, retries=0) as client:
        study = client.create_study(ids[0], families=FAMILIES, metric="rmse", n_initial=2, name="ci",
                                    pending_timeout_s=600)
        assert (study["direction"], study["families"], study["name"]) == ("minimize", FAMILIES, "ci")
        assert study["pending_timeout_s"] == 600
        assert client.list_studies(dataset_id=ids[0])["items"][0]["id"] == study["id"]
        assert client.list_studies(dataset_id=ids[1])["total"] == 0

        first = client.suggest(study["id"], n=2)["suggestions"]
        assert [s["source"] for s in first] == ["zero_shot", "zero_shot"]
        for score, s in zip([0.4, 0.3], first, strict=True):
            answer = client.observe(study["id"], s["trial_id"], score=score, fit_time=0.1)
            assert answer["created"] and answer["trial"]["state"] == "ok"
        assert not client.observe(study["id"], first[0]["trial_id"], score=0.4, fit_time=0.1)["created"]
        [third] = client.suggest(study["id"])["suggestions"]
        client.observe(study["id"], third["trial_id"], status="failed", error="out of memory")

        detail = client.get_study(study["id"])
        assert [t["state"] for t in detail["trials"]] == ["ok", "ok", "failed"]
        assert detail["best"]["trial_id"] == first[1]["trial_id"] and detail["best_score"] == 0.3
        stored = sqlite_store.list_evaluations(dataset_id=ids[0], protocol="user")
        assert sorted(e.metrics.get("rmse") for e in stored if e.status == "ok") == [0.3, 0.4]

        with pytest.raises(ApiError) as exc:
            client.observe(study["id"], third["trial_id"], score=1.0, status="failed")
        assert exc.value.status == 422
        with pytest.raises(ApiError) as exc:
            client.get_study(424242)
        assert exc.value.status == 404
