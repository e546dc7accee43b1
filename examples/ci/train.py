"""Step 4 of the CI example: refit the best configuration of `warmstart evaluate` on all the data
and keep it (model.joblib) with what it is and how it scored (best.json), for the build's artifacts.

    python examples/ci/train.py --results out/results.json --data train.csv --target churned --out out/model
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import joblib
import pandas as pd
from threadpoolctl import threadpool_limits

from learners.spaces import get_space
from service.usecases.ingest import parse_table, prepare


def best_result(results: dict, metric: str) -> dict:
    ok = [r for r in results["results"] if r["status"] == "ok" and r["metrics"].get(metric) is not None]
    if not ok:
        raise SystemExit(f"no successful result with {metric} in the results file; nothing to keep")
    return max(ok, key=lambda r: r["metrics"][metric])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, required=True, help="`warmstart evaluate --output` JSON")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--target", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--metric", help="default: balanced_accuracy or r2")
    args = parser.parse_args(argv)

    results = json.loads(args.results.read_text())
    task_type = results["dataset"]["task_type"]
    metric = args.metric or ("balanced_accuracy" if task_type == "classification" else "r2")
    best = best_result(results, metric)
    table = parse_table(args.data.name, args.data.read_bytes()).frame
    data = prepare(table, args.target, task_type, min_rows=2, max_columns=100_000)
    space = get_space(best["family"], task_type)
    model = space.build(best["hyperparameters"], data.column_types, seed=0)
    with threadpool_limits(limits=1):  # one core per fit, as the harness fitted it
        model.fit(data.X, data.y)

    args.out.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, args.out / "model.joblib")
    kept = {
        "family": best["family"],
        "hyperparameters": best["hyperparameters"],
        "configuration_id": best["configuration_id"],
        "metric": metric,
        "score": best["metrics"][metric],
        "metrics": best["metrics"],
        "protocol": results["protocol"],
        "dataset": results["dataset"],
        "n_rows": len(data.X),
        "features": list(pd.Index(data.X.columns)),
    }
    (args.out / "best.json").write_text(json.dumps(kept, indent=2))
    print(f"kept {best['family']} ({metric} {kept['score']:.4f}) in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
