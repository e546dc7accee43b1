"""A small regression knowledge base for the studies tests (API, Optuna, tune)."""

from __future__ import annotations

import math

from metastore.records import MetaFeatureVector, NewDataset, NewEvaluation
from metastore.sql import SqlMetaStore
from service.usecases.kb import register_pools
from service.usecases.recommend import PROTOCOL

FAMILIES = ["knn", "linear"]
#: Meta-training settings small enough for tests (the service's defaults take seconds per family).
FAST_SURROGATE = {"iterations": 20, "n_members": 2}


def fast_surrogates(app, store: SqlMetaStore):  # type: ignore[no-untyped-def]
    """Give `app` a surrogate registry that meta-trains in well under a second."""
    from service.usecases.studies import SurrogateRegistry

    app.state.surrogates = SurrogateRegistry(store, FAST_SURROGATE)
    return app


def build_regression_kb(store: SqlMetaStore, n_datasets: int = 8) -> list[int]:
    """Regression datasets where knn wins on the large ones and linear on the small ones; their ids."""
    pools = register_pools(store, FAMILIES, ["regression"])
    ids = []
    for i in range(n_datasets):
        rows = 100 * 2**i
        mf = {
            "nr_inst": float(rows),
            "nr_attr": 5.0 + i,
            "log_nr_inst": math.log(rows),
            "skewness.mean": i / 3,
        }
        record, _ = store.add_dataset(
            NewDataset(
                f"d{i}",
                f"{i:064x}",
                "regression",
                "y",
                rows,
                5 + i,
                {"a": "numeric"},
                origin_group=f"g{i % 4}",
                metafeatures=MetaFeatureVector("1.0", mf),
            )
        )
        ids.append(record.id)
        evals = []
        for j, ((_, family, _name), cid) in enumerate(sorted(pools.ids.items())):
            bonus = 0.3 if (family == "knn") == (i >= n_datasets // 2) else 0.0
            evals.append(
                NewEvaluation(
                    record.id,
                    cid,
                    PROTOCOL,
                    {"r2": 0.5 + bonus + (j * 37 % 100) / 1000, "rmse": 1.0 - bonus},
                    fit_time=0.01 * (i + 1),
                    idempotency_key=f"t:{record.id}:{cid}",
                )
            )
        store.import_evaluations(evals)
    return ids
