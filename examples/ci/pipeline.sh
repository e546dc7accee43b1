#!/usr/bin/env bash
# A training pipeline warm-started by warmstart: (1) ask for recommendations for the training data,
# (2) train the top k with `warmstart evaluate`, (3) report the results back, (4) keep the best model.
# The GitHub Actions workflow beside it runs this script, and so does tests/deploy/test_ci_example.py.
# With the service down it still trains (library defaults), says so, and exits 0.
set -euo pipefail

: "${WARMSTART_URL:?set WARMSTART_URL to the warmstart service, e.g. http://warmstart.internal:8000}"
HERE="$(cd "$(dirname "$0")" && pwd)"
DATA="${DATA:-$HERE/train.csv}"    # the training data
TARGET="${TARGET:-churned}"        # its target column
K="${K:-3}"                        # how many recommendations to train
METHOD="${METHOD:-knn}"            # knn follows every reported result at once (learned: after a refit)
OUT="${OUT:-out}"                  # recommendations, results and the kept model land here
WARMSTART="${WARMSTART:-warmstart}"
PYTHON="${PYTHON:-python}"
mkdir -p "$OUT"

echo "== 1. recommendations for $DATA"
"$WARMSTART" recommend "$DATA" --target "$TARGET" --url "$WARMSTART_URL" --k "$K" --method "$METHOD" \
    --on-unavailable defaults --json > "$OUT/recommendations.json"

echo "== 2. train the top $K"
"$WARMSTART" evaluate "$DATA" --target "$TARGET" --configs-from "$OUT/recommendations.json" \
    --output "$OUT/results.json"

echo "== 3. report the results"
"$WARMSTART" report "$OUT/results.json" --url "$WARMSTART_URL" --on-unavailable defaults

echo "== 4. keep the best model"
"$PYTHON" "$HERE/train.py" --results "$OUT/results.json" --data "$DATA" --target "$TARGET" \
    --out "$OUT/model"
