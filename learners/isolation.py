"""Run functions in a forked child with a hard time limit per function (SIGKILL on overrun).

One child runs a whole batch, streaming one result per function back through a pipe, so the
cost of forking (and of the copy-on-write faults that follow) is paid once per batch rather than
once per fit; when a function overruns its limit the child is killed and a fresh one continues
with the next function.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import signal
import struct
import time
import traceback
import warnings
from collections.abc import Callable, Hashable, Sequence
from typing import Any, Literal

Status = Literal["ok", "failed", "timeout", "skipped"]
Outcome = tuple[Status, Any]
_HEADER = struct.Struct("<Q")
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_POLL_S = 0.1
#: A child may run this many times its CPU limit in wall-clock time before it is killed anyway.
WALL_BACKSTOP = 30.0


def error_message(err: BaseException) -> str:
    """``Type: message`` plus the innermost frame, short enough to store per cell."""
    frames = traceback.extract_tb(err.__traceback__)
    where = f" (at {os.path.basename(frames[-1].filename)}:{frames[-1].lineno})" if frames else ""
    return f"{type(err).__name__}: {err}"[:2000] + where


def run_inline(fn: Callable[[], Any]) -> Outcome:
    """Run ``fn`` here with warnings silenced; an exception becomes ``("failed", message)``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return "ok", fn()
    except Exception as err:
        return "failed", error_message(err)


def _run_sequence(
    fns: Sequence[Callable[[], Any]],
    groups: Sequence[Hashable],
    start: int,
    bad: set[Hashable],
    emit: Callable[[int, Outcome], None],
) -> None:
    """Run ``fns[start:]``; skip a function whose group already failed or timed out."""
    for i in range(start, len(fns)):
        if groups[i] in bad:
            outcome: Outcome = ("skipped", None)
        else:
            outcome = run_inline(fns[i])
            if outcome[0] != "ok":
                bad.add(groups[i])
        emit(i, outcome)


def run_inline_many(fns: Sequence[Callable[[], Any]], groups: Sequence[Hashable]) -> list[Outcome]:
    """In-process version of ``run_forked_many``: same skipping, no time limit."""
    out: list[Outcome] = [("skipped", None)] * len(fns)

    def emit(i: int, outcome: Outcome) -> None:
        out[i] = outcome

    _run_sequence(fns, groups, 0, set(), emit)
    return out


def _child(
    fns: Sequence[Callable[[], Any]],
    groups: Sequence[Hashable],
    start: int,
    bad: set[Hashable],
    write_fd: int,
    warmup: Callable[[int], Any] | None,
) -> None:  # pragma: no cover - runs in the child
    try:
        if warmup is not None:
            run_inline(lambda: warmup(start))
        pipe = os.fdopen(write_fd, "wb", buffering=0)

        def emit(i: int, outcome: Outcome) -> None:
            try:
                data = pickle.dumps((i, outcome))
            except Exception as err:
                data = pickle.dumps((i, ("failed", f"result not picklable: {err}")))
            pipe.write(_HEADER.pack(len(data)) + data)

        _run_sequence(fns, groups, start, bad, emit)
        pipe.close()
    finally:
        os._exit(0)


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):  # already reaped
        os.waitpid(pid, 0)


def _read_messages(buffer: bytearray) -> list[tuple[int, Outcome]]:
    """Pop every complete length-prefixed message from ``buffer``."""
    out = []
    while len(buffer) >= _HEADER.size:
        (size,) = _HEADER.unpack_from(buffer)
        if len(buffer) < _HEADER.size + size:
            break
        out.append(pickle.loads(bytes(buffer[_HEADER.size : _HEADER.size + size])))
        del buffer[: _HEADER.size + size]
    return out


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid`` from /proc (None where there is none)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _TICKS


class _Clock:
    """Charges the running function for the child's CPU time, or wall time without /proc.

    CPU time keeps the limit fair when other work shares the cores; a wall-clock backstop of
    ``WALL_BACKSTOP`` times the limit still ends a child that waits instead of computing.
    """

    def __init__(self, pid: int, limit_s: float) -> None:
        self.pid, self.limit_s = pid, limit_s
        self.restart()

    def restart(self) -> None:
        self.wall0 = time.monotonic()
        self.cpu0 = cpu_seconds(self.pid)

    def over(self) -> bool:
        wall = time.monotonic() - self.wall0
        if self.cpu0 is None:
            return wall > self.limit_s
        cpu = cpu_seconds(self.pid)
        return wall > WALL_BACKSTOP * self.limit_s or (cpu is not None and cpu - self.cpu0 > self.limit_s)

    def wait_s(self) -> float:
        """How long to block before looking again."""
        return min(_POLL_S, self.limit_s) if self.cpu0 is not None else self.limit_s


def _supervise(
    pid: int, read_fd: int, start: int, n: int, time_limit_s: float, out: list[Outcome | None]
) -> tuple[int, Status | None]:
    """Collect results until the child ends; returns (first index without one, why)."""
    buffer = bytearray()
    current = start
    clock = _Clock(pid, time_limit_s)
    while current < n:
        if clock.over():
            _kill(pid)
            return current, "timeout"
        ready, _, _ = select.select([read_fd], [], [], clock.wait_s())
        if not ready:
            continue
        chunk = os.read(read_fd, 1 << 16)
        if not chunk:
            os.waitpid(pid, 0)
            return current, "failed"
        buffer.extend(chunk)
        for i, outcome in _read_messages(buffer):
            out[i] = outcome
            current = i + 1
            clock.restart()
    os.waitpid(pid, 0)
    return current, None


def run_forked_many(
    fns: Sequence[Callable[[], Any]],
    groups: Sequence[Hashable],
    time_limit_s: float,
    warmup: Callable[[int], Any] | None = None,
) -> list[Outcome]:
    """Run each function in a forked child, at most ``time_limit_s`` CPU seconds each.

    The limit is on the child's CPU time (read from /proc, so other load on the machine does
    not cause time-outs), with a wall-clock backstop of ``WALL_BACKSTOP`` times the limit;
    without /proc it is a wall-clock limit.

    Functions run in order; once one of a group fails or times out, the rest of that group is
    ``("skipped", None)``. A time-out gives ``("timeout", None)``; a child that dies (e.g. killed
    for memory) gives ``("failed", message)`` for the function it was running. Uses ``os.fork``
    directly (not multiprocessing) so that it works inside daemonic processes like Dask workers.
    ``warmup(i)``, if given, runs in each new child before function ``i`` (its errors ignored),
    so one-off library initialisation is not charged to the first measured function.
    """
    if len(fns) != len(groups):
        raise ValueError(f"{len(fns)} functions but {len(groups)} groups; give one group each")
    out: list[Outcome | None] = [None] * len(fns)
    bad: set[Hashable] = set()
    start = 0
    while start < len(fns):
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            os.close(read_fd)
            _child(fns, groups, start, bad, write_fd, warmup)
        os.close(write_fd)
        try:
            stopped, why = _supervise(pid, read_fd, start, len(fns), time_limit_s, out)
        except BaseException:  # e.g. KeyboardInterrupt: leave no orphan computing
            _kill(pid)
            raise
        finally:
            os.close(read_fd)
        bad.update(groups[i] for i in range(start, stopped) if out[i][0] != "ok")
        if why is None:
            break
        out[stopped] = (
            ("timeout", None)
            if why == "timeout"
            else ("failed", "evaluation process died without a result; likely killed for memory")
        )
        bad.add(groups[stopped])
        start = stopped + 1
    return [o if o is not None else ("skipped", None) for o in out]


def run_many(
    fns: Sequence[Callable[[], Any]],
    groups: Sequence[Hashable],
    time_limit_s: float,
    isolation: str,
    warmup: Callable[[int], Any] | None = None,
) -> list[Outcome]:
    """Dispatch to ``run_forked_many`` (POSIX) or ``run_inline_many`` (no time limit)."""
    if isolation == "fork":
        if not hasattr(os, "fork"):
            raise RuntimeError("isolation='fork' needs os.fork (POSIX); use isolation='none'")
        return run_forked_many(fns, groups, time_limit_s, warmup)
    if isolation == "none":
        if warmup is not None and fns:
            run_inline(lambda: warmup(0))
        return run_inline_many(fns, groups)
    raise ValueError(f"isolation={isolation!r}; use 'fork' or 'none'")
