"""`warmstart kb ...`: build the knowledge base on Dask, export it, load it, and count it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from service.cli import JsonFlag, emit, store_from_settings

kb_app = typer.Typer(help="Build, export, load and inspect the knowledge base.", no_args_is_help=True)


class _Bar:
    """A tqdm bar with ETA on stderr, created lazily per phase."""

    def __init__(self) -> None:
        self.bar = None
        self.total = None

    def __call__(self, done: int, total: int, what: str) -> None:
        from tqdm import tqdm

        if self.bar is None or self.total != total:
            if self.bar is not None:
                self.bar.close()
            self.bar = tqdm(total=total, unit="shard", dynamic_ncols=True)
            self.total = total
        self.bar.set_postfix_str(what[:40])
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@kb_app.command("build")
def kb_build(
    datasets: Annotated[
        Path | None,
        typer.Option("--datasets", help="A PMLB-style folder (NAME.tsv.gz + NAME.yaml).", file_okay=False),
    ] = None,
    families: Annotated[list[str] | None, typer.Option("--families", help="Repeat; default: all.")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Local Dask worker processes.")] = 1,
    scheduler: Annotated[
        str | None, typer.Option(help="An existing Dask scheduler, tcp://HOST:PORT.")
    ] = None,
    sklearn: Annotated[bool, typer.Option(help="Include scikit-learn's bundled datasets.")] = True,
    limit: Annotated[
        int | None, typer.Option(min=1, help="Only the first N datasets (smallest first).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Evaluate every family's pool on every dataset (resumable: skips what is stored)."""
    from learners.datasets import catalog
    from learners.spaces import FAMILIES
    from service.usecases.kb import build

    chosen = families or list(FAMILIES)
    unknown = sorted(set(chosen) - set(FAMILIES))
    if unknown:
        raise typer.BadParameter(f"unknown families {unknown}; choose from {', '.join(FAMILIES)}")
    entries = catalog(datasets, include_sklearn=sklearn)
    entries.sort(key=lambda e: (e[2] * e[3], e[0].name))
    if limit:
        entries = entries[:limit]
    bar = _Bar()
    try:
        report = build(
            store_from_settings(), entries, chosen, workers=workers, scheduler=scheduler, progress=bar
        )
    finally:
        bar.close()
    emit(
        report.__dict__,
        as_json,
        f"registered {report.datasets_registered} datasets, ran {report.shards_run} shards "
        f"({report.shards_skipped} already stored), added {report.evaluations_added} evaluations "
        f"({report.failures} failed or timed out)",
    )


@kb_app.command("ingest-shards")
def kb_ingest_shards(
    folder: Annotated[Path, typer.Argument(exists=True, file_okay=False)],
    as_json: JsonFlag = False,
) -> None:
    """Load Parquet shards written by scripts/sweep_shards.py into the metastore."""
    from service.usecases.kb import ingest_shards

    bar = _Bar()
    try:
        report = ingest_shards(store_from_settings(), str(folder), progress=bar)
    finally:
        bar.close()
    emit(
        report.__dict__,
        as_json,
        f"{report.datasets_registered} datasets registered, {report.evaluations_added} evaluations added",
    )


@kb_app.command("export")
def kb_export(
    out: Annotated[Path, typer.Option("--out", help="The file to write.")] = Path("knowledge-base.parquet"),
    all_sources: Annotated[
        bool, typer.Option("--all", help="Also user datasets (default: pmlb, sklearn).")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Write datasets' meta-features, spaces, pools and evaluations (no raw data) to one Parquet file."""
    from metastore.kb import export_kb
    from service.usecases.kb import KB_SOURCES

    stats = export_kb(store_from_settings(), out, None if all_sources else KB_SOURCES)
    emit(
        {"file": str(out), "bytes": out.stat().st_size, **stats},
        as_json,
        f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB): {stats['datasets']} datasets, "
        f"{stats['configurations']} configurations, {stats['evaluations']} evaluations",
    )


@kb_app.command("load")
def kb_load(
    file: Annotated[Path | None, typer.Argument(exists=True, dir_okay=False)] = None,
    as_json: JsonFlag = False,
) -> None:
    """Load a knowledge-base file (default: the bundled one); nothing is duplicated."""
    from metastore.kb import BUNDLED_KB, load_kb

    path = file or BUNDLED_KB
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; build one with `warmstart kb build` and `kb export`")
    result = load_kb(store_from_settings(), path)
    emit(
        result,
        as_json,
        f"loaded {path}: {result['datasets_added']} new datasets, "
        f"{result['evaluations_added']} new evaluations of {result['evaluations_in_file']}",
    )


@kb_app.command("stats")
def kb_stats(as_json: JsonFlag = False) -> None:
    """Counts of the metastore in use: datasets, families, configurations, evaluations, fill rate,
    and a table per family (configurations, datasets measured, results by status)."""
    s = store_from_settings().stats()
    lines = [
        f"{s.datasets} datasets ({s.datasets_with_results} with results), {s.families} families, "
        f"{s.configurations} configurations, {s.evaluations} evaluations, fill rate {s.fill_rate:.1%}",
    ]
    if s.by_family:
        lines.append("| family | configurations | datasets | cells | ok | failed | time-out |")
        lines.append("|---|---|---|---|---|---|---|")
        lines += [
            f"| {f.family} | {f.configurations:,} | {f.datasets:,} | {f.cells:,} | {f.ok:,} | "
            f"{f.failed:,} | {f.timeout:,} |"
            for f in s.by_family
        ]
    emit(s, as_json, "\n".join(lines))
