"""The common meta-learner: wrap a model, ``meta_fit`` on a task sampler, checkpoint and restore it."""

from __future__ import annotations

import inspect
import math
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from learners.meta import checkpoint as ckpt
from learners.meta.tasks import TaskBatch, TaskSampler

LR_SCHEDULES = ("constant", "cosine")
# Added to the training seed to draw the fixed meta-validation batch from a different stream.
VALIDATION_SEED_OFFSET = 1_000_003
# settings of how a learner runs, not of what it learned: a checkpoint loads whatever they are
RUN_SETTINGS = frozenset({"device", "chunk_size", "compile", "cap_steps"})


class NotMetaFitted(RuntimeError):
    """The learner was used before ``meta_fit`` or ``load``."""

    def __init__(self, learner: object) -> None:
        super().__init__(
            f"{type(learner).__name__} has no meta-trained state; call meta_fit(...) or load(path)"
        )


@dataclass(frozen=True)
class ValidationPoint:
    """One meta-validation: iteration, mean query loss, seconds of training so far."""

    iteration: int
    loss: float
    elapsed_s: float


def resolve_device(device: str | torch.device | None) -> torch.device:
    """The device named, or the GPU when one is present, else the CPU. Chosen once per learner."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class MetaLearner(ABC):
    """Base class: holds the wrapped model, the outer optimiser, the training loop and checkpoints.

    Subclasses implement ``_meta_loss_backward`` (set ``.grad`` on the meta-parameters and return
    the meta-training loss), ``_validation_loss`` and ``adapt``. Following scikit-learn,
    ``__init__`` only stores arguments; trained state (``history_``, ``iteration_``...) ends in ``_``.
    """

    #: Whether adaptation takes gradient steps (so ``meta_fit(validation_steps=...)`` means something).
    adapts_in_steps: bool = False
    model: nn.Module
    outer_lr: float
    device: str | torch.device | None

    # ---- parameters (scikit-learn style introspection) ----
    def get_params(self) -> dict[str, Any]:
        """The constructor arguments except the model, by introspection."""
        names: list[str] = []
        for cls in type(self).__mro__:
            init = cls.__dict__.get("__init__")
            if init is None or cls is object:
                continue
            for p in inspect.signature(init).parameters.values():
                if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) and p.name not in names:
                    names.append(p.name)
        return {n: getattr(self, n) for n in names if n not in ("self", "model")}

    def _json_params(self) -> dict[str, Any]:
        return {k: v for k, v in self.get_params().items() if _is_json_scalar(v)}

    # ---- set-up, done once ----
    def _extra_parameters(self) -> dict[str, nn.Parameter]:
        """Meta-parameters beyond the model's own (Meta-SGD's step sizes); none by default."""
        return {}

    def _make_optimizer(self, params: list[Tensor]) -> torch.optim.Optimizer:
        return torch.optim.Adam(params, lr=self.outer_lr)

    def _setup(self) -> None:
        if getattr(self, "device_", None) is not None:
            return
        self.device_ = resolve_device(self.device)
        self.model.to(self.device_)
        extra = self._extra_parameters().items()
        self.extra_ = {k: nn.Parameter(p.detach().to(self.device_)) for k, p in extra}
        self.optimizer_ = self._make_optimizer(self.meta_parameters())
        self.iteration_ = 0
        self.history_: list[ValidationPoint] = []
        self.best_val_loss_ = math.inf
        self._best: dict[str, Tensor] | None = None
        self._generator_state: Tensor | None = None

    def meta_parameters(self) -> list[Tensor]:
        """Everything the outer optimiser updates, in a fixed order."""
        return [*self.model.parameters(), *(self.extra_[k] for k in sorted(self.extra_))]

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    def _check_fitted(self) -> None:
        if getattr(self, "device_", None) is None:
            raise NotMetaFitted(self)

    # ---- the algorithm-specific part ----
    @abstractmethod
    def _meta_loss_backward(self, batch: TaskBatch) -> float:
        """Accumulate the meta-gradient of ``batch`` into ``.grad``; return the meta-training loss."""

    @abstractmethod
    def _validation_loss(self, batch: TaskBatch) -> float:
        """Mean query loss on held-out tasks after the adaptation used at test time."""

    # ---- training ----
    def meta_step(self, batch: TaskBatch) -> float:
        """One outer update on one meta-batch; returns the meta-training loss."""
        self._setup()
        self.optimizer_.zero_grad(set_to_none=True)
        loss = self._meta_loss_backward(batch.to(self.device_, self.dtype))
        self.optimizer_.step()
        self.iteration_ += 1
        return loss

    def meta_fit(
        self,
        task_sampler: TaskSampler,
        *,
        iterations: int,
        meta_batch_size: int = 25,
        validation: TaskSampler | TaskBatch | None = None,
        n_validation_tasks: int = 200,
        validate_every: int = 1000,
        patience: int | None = None,
        seed: int = 0,
        checkpoint: str | Path | None = None,
        checkpoint_every: int = 1000,
        lr_schedule: str = "constant",
        validation_steps: tuple[int, ...] | None = None,
    ) -> MetaLearner:
        """Meta-train for ``iterations`` outer steps (counted from zero, so a resumed run finishes).

        ``validation`` (a sampler, from which one fixed batch of ``n_validation_tasks`` is drawn,
        or a ready batch) is scored every ``validate_every`` iterations; with ``patience``,
        training stops after that many validations without improvement. When validation is
        given, the best meta-parameters seen are restored at the end. With ``checkpoint``, state
        is written there every ``checkpoint_every`` iterations and at the end, and an existing
        checkpoint is resumed from. Tasks come from ``torch.Generator().manual_seed(seed)``.
        ``lr_schedule="cosine"`` anneals the outer learning rate from ``outer_lr`` to zero over
        ``iterations`` (a function of the iteration count, so resuming keeps it exact).
        ``validation_steps`` (gradient-based learners) scores validation as the mean query loss
        over these numbers of adaptation steps instead of the trained number alone, e.g.
        ``(1, 10)`` to keep the weights that do well after one step and after ten.
        """
        _check_fit_args(task_sampler, iterations, meta_batch_size, validate_every, patience)
        if validation_steps is not None and not self.adapts_in_steps:
            raise ValueError(f"{type(self).__name__} adapts without gradient steps; drop validation_steps")
        if validation_steps is not None and (
            not validation_steps or any(int(s) < 0 for s in validation_steps)
        ):
            raise ValueError(f"validation_steps must be non-negative step counts, got {validation_steps!r}")
        self._validation_steps = None if validation_steps is None else tuple(int(s) for s in validation_steps)
        if lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {lr_schedule!r}")
        self._lr_schedule = (lr_schedule, iterations)
        self._setup()
        gen = torch.Generator().manual_seed(seed)
        if checkpoint is not None and Path(checkpoint).exists():
            self.load(checkpoint)
            if self._generator_state is not None:
                gen.set_state(self._generator_state)
        val_batch = self._validation_batch(validation, n_validation_tasks, seed)
        self._train_loop(
            task_sampler,
            gen,
            iterations,
            meta_batch_size,
            val_batch,
            validate_every,
            patience,
            checkpoint,
            checkpoint_every,
        )
        if val_batch is not None and self._best is not None:
            self._restore(self._best)
        return self

    def _train_loop(
        self,
        sampler: TaskSampler,
        gen: torch.Generator,
        iterations: int,
        meta_batch_size: int,
        val_batch: TaskBatch | None,
        validate_every: int,
        patience: int | None,
        checkpoint: str | Path | None,
        checkpoint_every: int,
    ) -> None:
        start = time.perf_counter() - (self.history_[-1].elapsed_s if self.history_ else 0.0)
        while self.iteration_ < iterations:
            self._apply_lr_schedule()
            self.meta_step(sampler.sample(meta_batch_size, gen))
            done = self.iteration_ >= iterations
            if val_batch is not None and (self.iteration_ % validate_every == 0 or done):
                self._record_validation(val_batch, time.perf_counter() - start)
                if patience is not None and self._stale_validations() >= patience:
                    done = True
            if checkpoint is not None and (self.iteration_ % checkpoint_every == 0 or done):
                self._generator_state = gen.get_state()
                self.save(checkpoint)
            if done:
                break

    def _apply_lr_schedule(self) -> None:
        schedule, horizon = getattr(self, "_lr_schedule", ("constant", 1))
        if schedule == "constant":
            return
        progress = min(1.0, self.iteration_ / horizon)
        for group in self.optimizer_.param_groups:
            group["lr"] = self.outer_lr * 0.5 * (1.0 + math.cos(math.pi * progress))

    def _validation_batch(
        self, validation: TaskSampler | TaskBatch | None, n_tasks: int, seed: int
    ) -> TaskBatch | None:
        if validation is None or isinstance(validation, TaskBatch):
            return validation
        if not isinstance(validation, TaskSampler):
            raise TypeError(f"validation must be a TaskSampler, a TaskBatch or None, got {type(validation)}")
        gen = torch.Generator().manual_seed(seed + VALIDATION_SEED_OFFSET)
        return validation.sample(n_tasks, gen)

    def _record_validation(self, batch: TaskBatch, elapsed_s: float) -> None:
        loss = self._validation_loss(batch.to(self.device_, self.dtype))
        self.history_.append(ValidationPoint(self.iteration_, loss, elapsed_s))
        if loss < self.best_val_loss_:
            self.best_val_loss_ = loss
            self._best = {k: v.detach().clone() for k, v in self._named_meta_tensors().items()}

    def _stale_validations(self) -> int:
        """Validations since the best one."""
        best = min(range(len(self.history_)), key=lambda i: self.history_[i].loss)
        return len(self.history_) - 1 - best

    def stale_validations(self) -> int:
        """Meta-validations since the best one (0 before any): what ``patience`` is compared with."""
        return self._stale_validations() if getattr(self, "history_", None) else 0

    def restore_best(self) -> bool:
        """Put back the best meta-parameters seen in meta-validation (also after ``load``).

        Returns False, changing nothing, when no validation has been recorded. ``meta_fit`` does
        this itself at its end; call it when training stopped elsewhere, e.g. a resumed run that
        found nothing left to do.
        """
        best = getattr(self, "_best", None)
        if best is None:
            return False
        self._restore(best)
        return True

    # ---- state, checkpoints ----
    def _named_meta_tensors(self) -> dict[str, Tensor]:
        tensors = {f"model.{k}": v for k, v in self.model.state_dict().items()}
        tensors.update({f"extra.{k}": v for k, v in self.extra_.items()})
        return tensors

    def _restore(self, tensors: dict[str, Tensor]) -> None:
        self.model.load_state_dict(ckpt.prefixed(tensors, "model"))
        with torch.no_grad():
            for k, v in ckpt.prefixed(tensors, "extra").items():
                self.extra_[k].copy_(v)

    def save(self, path: str | Path) -> None:
        """Write weights, optimiser state, RNG state, best weights and history (safetensors)."""
        self._check_fitted()
        tensors = dict(self._named_meta_tensors())
        opt_tensors, groups = ckpt.optimizer_tensors(self.optimizer_)
        tensors.update(opt_tensors)
        if self._best is not None:
            tensors.update({f"best.{k}": v for k, v in self._best.items()})
        if self._generator_state is not None:
            tensors["rng.sampler"] = self._generator_state
        meta = {
            "algorithm": type(self).__name__,
            "params": self._json_params(),
            "iteration": self.iteration_,
            "best_val_loss": None if math.isinf(self.best_val_loss_) else self.best_val_loss_,
            "history": [[p.iteration, p.loss, p.elapsed_s] for p in self.history_],
            "param_groups": groups,
        }
        ckpt.write(path, tensors, meta)

    def load(self, path: str | Path) -> MetaLearner:
        """Restore everything :meth:`save` wrote; the learner must be built with the same settings."""
        self._setup()
        path = Path(path)
        # Read on the CPU: the sampler's RNG state must stay there (a CPU generator refuses any other),
        # and so must a non-fused Adam's step counts (PyTorch keeps them where they are loaded, and
        # on the device each optimiser step would read them back). Everything else is copied in.
        tensors, meta = ckpt.read(path)
        if meta["algorithm"] != type(self).__name__:
            raise ckpt.CheckpointMismatch(path, "algorithm", meta["algorithm"], type(self).__name__)
        for key, value in self._json_params().items():
            stored = meta["params"].get(key)
            if key not in RUN_SETTINGS and stored != value:
                raise ckpt.CheckpointMismatch(path, key, stored, value)
        self._restore(tensors)
        ckpt.load_optimizer(self.optimizer_, tensors, meta["param_groups"])
        best = ckpt.prefixed(tensors, "best")
        self._best = {k: v.to(self.device_) for k, v in best.items()} or None
        self._generator_state = tensors.get("rng.sampler")
        self.iteration_ = meta["iteration"]
        stored_best = meta["best_val_loss"]
        self.best_val_loss_ = math.inf if stored_best is None else stored_best
        self.history_ = [ValidationPoint(int(i), float(v), float(s)) for i, v, s in meta["history"]]
        return self


def _is_json_scalar(value: object) -> bool:
    return value is None or isinstance(value, bool | int | float | str)


def _check_fit_args(
    sampler: object, iterations: int, batch: int, validate_every: int, patience: int | None
) -> None:
    if not isinstance(sampler, TaskSampler):
        raise TypeError(f"task_sampler needs a sample(n_tasks, generator) method, got {sampler!r}")
    for name, value in (
        ("iterations", iterations),
        ("meta_batch_size", batch),
        ("validate_every", validate_every),
    ):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if patience is not None and (not isinstance(patience, int) or patience < 1):
        raise ValueError(f"patience must be a positive integer or None, got {patience!r}")
