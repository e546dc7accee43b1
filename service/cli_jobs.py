"""`warmstart jobs list|show|cancel|watch|submit` and `warmstart worker`, on the metastore directly."""

from __future__ import annotations

import json
import signal
import time
from typing import Annotated, Any

import typer

jobs_app = typer.Typer(help="Follow, cancel and submit durable jobs.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
BAR_STEPS = 1000


def _queue():  # type: ignore[no-untyped-def]
    from service.cli import store_from_settings
    from service.jobs.worker import jobs_for

    return jobs_for(store_from_settings())


def _emit(data: Any, as_json: bool, human: str) -> None:
    from service.cli import emit

    emit(data, as_json, human)


def _line(job: Any) -> str:
    return (
        f"{job.id:>6}  {job.state:<10} {job.kind:<24} {100 * job.progress:5.1f}%  "
        f"{job.attempts}/{job.max_attempts}  {job.message[:60]}"
    )


@jobs_app.command("list")
def jobs_list(
    state: Annotated[str | None, typer.Option(help="queued, running, succeeded, failed, cancelled.")] = None,
    kind: Annotated[str | None, typer.Option()] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    as_json: JsonFlag = False,
) -> None:
    """List jobs, newest first."""
    from metastore.jobs import JOB_STATES
    from service.cli import CliError
    from service.jobs.schemas import JobOut

    if state is not None and state not in JOB_STATES:
        raise CliError(f"unknown state {state!r}; use one of {', '.join(JOB_STATES)}")
    page = _queue().list_jobs(state, kind, limit, offset)  # type: ignore[arg-type]
    lines = [f"{'id':>6}  {'state':<10} {'kind':<24} {'done':>6}  try  message"]
    lines += [_line(j) for j in page.items] + [f"({len(page.items)} of {page.total})"]
    _emit({"items": [JobOut.of(j) for j in page.items], "total": page.total}, as_json, "\n".join(lines))


@jobs_app.command("show")
def jobs_show(
    job_id: Annotated[int, typer.Argument()],
    events: Annotated[bool, typer.Option("--events", help="Also print the job's event log.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Show one job: state, progress, metrics, result and last error."""
    from service.jobs.schemas import JobEventOut, JobOut

    queue = _queue()
    job = queue.get_job(job_id)
    log = [JobEventOut.of(e) for e in queue.events(job_id)] if events else []
    lines = [_line(job), f"arguments: {json.dumps(job.arguments)}", f"metrics: {json.dumps(job.metrics)}"]
    if job.result is not None:
        lines.append(f"result: {json.dumps(job.result)}")
    if job.error:
        lines.append(f"last error: {job.error}")
    if job.run_after is not None:
        lines.append(f"next attempt not before {job.run_after:%Y-%m-%d %H:%M:%S} UTC (back-off)")
    lines += [f"  {e.id:>6} {e.at:%H:%M:%S} {e.type:<10} attempt {e.attempt} {e.message}" for e in log]
    data: dict[str, Any] = {"job": JobOut.of(job)}
    if events:
        data["events"] = log
    _emit(data, as_json, "\n".join(lines))


@jobs_app.command("cancel")
def jobs_cancel(job_id: Annotated[int, typer.Argument()], as_json: JsonFlag = False) -> None:
    """Cancel a job: a queued one at once, a running one at its next step."""
    from service.jobs.schemas import JobOut

    job = _queue().cancel(job_id)
    verb = "cancelled" if job.state == "cancelled" else "cancel requested for"
    _emit(JobOut.of(job), as_json, f"{verb} job {job.id} ({job.kind})")


@jobs_app.command("submit")
def jobs_submit(
    kind: Annotated[str, typer.Argument(help="A registered job kind, e.g. recompute_metafeatures.")],
    arguments: Annotated[str, typer.Option("--args", help="The job's arguments as a JSON object.")] = "{}",
    max_attempts: Annotated[int | None, typer.Option(min=1, max=100)] = None,
    as_json: JsonFlag = False,
) -> None:
    """Queue a job of a registered kind (run it with `warmstart worker` or `warmstart serve`)."""
    from service.cli import CliError
    from service.jobs.handlers import submit
    from service.jobs.schemas import JobOut

    try:
        parsed = json.loads(arguments)
    except json.JSONDecodeError as exc:
        example = '{"force": true}'
        raise CliError(f"--args is not JSON ({exc.msg}); pass an object such as '{example}'") from exc
    if not isinstance(parsed, dict):
        raise CliError(f"--args must be a JSON object, not {type(parsed).__name__}")
    job = submit(_queue(), kind, parsed, max_attempts)
    _emit(JobOut.of(job), as_json, f"queued job {job.id} ({job.kind})")


@jobs_app.command("watch")
def jobs_watch(
    job_id: Annotated[int, typer.Argument()],
    interval: Annotated[float, typer.Option(min=0.05, help="Seconds between looks.")] = 1.0,
) -> None:
    """Show a progress bar until the job ends; exit 0 if it succeeded, 1 otherwise."""
    queue = _queue()
    job = queue.get_job(job_id)
    shown = 0
    with typer.progressbar(length=BAR_STEPS, label=f"job {job_id} {job.kind}", show_percent=True) as bar:
        while True:
            target = round(job.progress * BAR_STEPS)
            if target > shown:
                bar.update(target - shown)
                shown = target
            if job.finished:
                break
            time.sleep(interval)
            job = queue.get_job(job_id)
    typer.echo(f"job {job.id} {job.state} after {job.attempts} attempt(s): {job.message}")
    if job.state == "succeeded":
        typer.echo(f"result: {json.dumps(job.result)}")
        return
    if job.error:
        typer.echo(f"last error: {job.error.splitlines()[0]}", err=True)
    raise typer.Exit(1)


def worker(
    kind: Annotated[list[str] | None, typer.Option(help="Run only these kinds; repeat for several.")] = None,
    max_jobs: Annotated[int | None, typer.Option(min=1, help="Stop after this many jobs.")] = None,
    exit_when_idle: Annotated[bool, typer.Option(help="Stop once the queue is empty.")] = False,
    name: Annotated[str | None, typer.Option(help="Worker id (default host:pid:random).")] = None,
) -> None:
    """Run jobs from the metastore's queue until stopped (SIGTERM or Ctrl-C requeue the current job).

    Intervals come from WARMSTART_JOB_POLL_S, WARMSTART_JOB_HEARTBEAT_S and WARMSTART_JOB_GRACE_S.
    """
    import logging

    from service.cli import CliError, settings, store_from_settings
    from service.jobs.handlers import kinds
    from service.jobs.worker import Worker, WorkerConfig, jobs_for

    known = kinds()
    if unknown := sorted(set(kind or ()) - set(known)):
        raise CliError(f"unknown job kind(s) {unknown}; the kinds are {sorted(known)}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = settings()
    store = store_from_settings()
    config = WorkerConfig.from_settings(cfg, tuple(kind) if kind else None)
    w = Worker(jobs_for(store), store, cfg, config, name)
    previous = _stop_on_signals(w.stop)
    typer.echo(f"worker {w.id} polling every {cfg.job_poll_s:g} s")
    try:
        done = w.run(max_jobs=max_jobs, exit_when_idle=exit_when_idle)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    typer.echo(f"worker {w.id} stopped after {done} job(s)")


def _stop_on_signals(stop: Any) -> dict[int, Any]:
    """First SIGTERM/SIGINT: stop gracefully (the running job is requeued); a second: exit now.

    Returns the handlers it replaced.
    """

    def handle(signum: int, _frame: Any) -> None:
        stop()
        signal.signal(signum, signal.SIG_DFL)

    return {sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)}
