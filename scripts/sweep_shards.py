"""Run the knowledge-base sweep now, one Parquet shard per (dataset, family), resumably.

Writes ``var/sweep/<protocol id>/<dataset>__<family>.parquet`` (git-ignored) and skips shards
that already exist, so it can be stopped and restarted at will; the metastore ingests the shards
later. One process, one core: run it as

    nohup nice -n 5 env OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 \\
        .venv/bin/python scripts/sweep_shards.py >> var/sweep/sweep.log 2>&1 &
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from learners.datasets import catalog
from learners.evaluate import SWEEP_PROTOCOL
from learners.spaces import FAMILIES
from learners.sweep import Shard, plan, run_shard

ROOT = Path(__file__).resolve().parents[1]


def _cpu_s() -> float:
    """CPU seconds of this process and its finished (forked, waited-for) children."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def shard_path(out: Path, shard: Shard) -> Path:
    return out / f"{shard.dataset.name}__{shard.family}.parquet"


def write_shard(path: Path, records: list[dict]) -> None:
    """Write atomically (temp file + rename) so a killed run never leaves half a shard."""
    frame = pd.DataFrame(records)
    frame["config"] = [json.dumps(c, sort_keys=True) for c in frame["config"]]
    tmp = path.with_suffix(".tmp")
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pmlb", type=Path, default=ROOT.parent / "shared/data/pmlb")
    parser.add_argument("--out", type=Path, default=ROOT / "var/sweep")
    parser.add_argument("--families", nargs="*", default=list(FAMILIES))
    parser.add_argument("--datasets", nargs="*", help="only these dataset names")
    parser.add_argument("--max-shards", type=int, default=None, help="stop after this many")
    args = parser.parse_args(argv)

    out = args.out / SWEEP_PROTOCOL.id
    out.mkdir(parents=True, exist_ok=True)
    (out / "protocol.json").write_text(json.dumps(SWEEP_PROTOCOL.to_dict(), indent=2))
    rows = catalog(args.pmlb)
    if args.datasets:
        rows = [r for r in rows if r[0].name in set(args.datasets)]
    done = {tuple(p.stem.split("__", 1)) for p in out.glob("*.parquet")}
    shards = plan(rows, SWEEP_PROTOCOL, args.families, done)[: args.max_shards]
    print(f"{len(done)} shards stored, {len(shards)} to run -> {out}", flush=True)
    start = time.time()
    for i, shard in enumerate(shards, 1):
        if shard_path(out, shard).exists():  # written meanwhile by another run
            continue
        t0, cpu0 = time.time(), _cpu_s()
        try:
            records = run_shard(shard, SWEEP_PROTOCOL)
        except Exception as err:  # a broken dataset must not stop the sweep; rerun retries it
            print(
                f"[{i}/{len(shards)}] {shard.dataset.name} {shard.family} ERROR {type(err).__name__}: {err}",
                flush=True,
            )
            continue
        for record in records:  # cost of the whole shard, for the timing report
            record.update(shard_wall_s=time.time() - t0, shard_cpu_s=_cpu_s() - cpu0)
        write_shard(shard_path(out, shard), records)
        status = pd.Series([r["status"] for r in records]).value_counts().to_dict()
        elapsed = time.time() - start
        print(
            f"[{i}/{len(shards)}] {shard.dataset.name} {shard.family} "
            f"{time.time() - t0:.1f}s cpu={_cpu_s() - cpu0:.1f}s {status} "
            f"elapsed={elapsed / 60:.1f}min",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
