"""Real datasets from the shared PMLB copy, when it is there: nothing fails except what does not apply."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from learners.metafeatures import extract, feature_names

PMLB = Path(__file__).resolve().parents[4] / "shared" / "data" / "pmlb"
KINDS = {"continuous": "numeric", "categorical": "categorical", "binary": "boolean",
         "ordinal": "numeric"}  # fmt: skip

pytestmark = pytest.mark.skipif(not PMLB.is_dir(), reason=f"PMLB data not found at {PMLB}")


def _load(name: str) -> tuple[pd.DataFrame, pd.Series, dict[str, str], str]:
    yaml = pytest.importorskip("yaml")
    meta = yaml.safe_load((PMLB / f"{name}.yaml").read_text())
    frame = pd.read_csv(PMLB / f"{name}.tsv.gz", sep="\t")
    y = frame.pop("target")
    types = {f["name"]: KINDS.get(f["type"], "numeric") for f in meta["features"]}
    return frame, y, {k: v for k, v in types.items() if k in frame.columns}, meta["task"]


@pytest.mark.parametrize("name", ["yeast", "1027_ESL", "dermatology"])
def test_only_inapplicable_features_are_missing(name):
    X, y, types, task = _load(name)
    result = extract(X, y, types, task_type=task)
    assert list(result.values) == feature_names(task)
    assert all(reason.startswith("not applicable") for reason in result.failures.values())
