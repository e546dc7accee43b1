"""Optuna integration: a sampler that asks a warmstart study for each trial, and a helper that
enqueues zero-shot recommendations into any Optuna study.

    from warmstart.optuna import WarmStartSampler
    sampler = WarmStartSampler(url="http://127.0.0.1:8000", dataset_id=42, space="lightgbm")
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(objective, n_trials=30)  # objective calls trial.suggest_* with the space's names

Each trial starts with one suggestion from the service (`POST /v1/studies/{id}/suggest`); the
objective's `trial.suggest_*` calls get the suggested values, and a parameter the suggestion does
not hold (or holds outside the asked distribution) comes from an independent sampler (TPE by
default). When the trial ends its value, or its failure, goes back as an observation. Optuna must
be installed (`pip install optuna`); the rest of the package does not need it.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.search_space import IntersectionSearchSpace
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, TrialState

from warmstart.client import WarmstartClient

log = logging.getLogger("warmstart.optuna")

TRIAL_ID_ATTR = "warmstart:trial_id"
PARAMS_ATTR = "warmstart:params"
SOURCE_ATTR = "warmstart:source"
STUDY_ID_ATTR = "warmstart:study_id"
CONFIGURATION_ATTR = "warmstart:configuration_id"
SUGGEST_TIMEOUT_S = 300.0


class WarmStartSampler(BaseSampler):
    """An Optuna sampler whose proposals come from a warmstart study.

    Give `study_id` to join an existing warmstart study (parallel workers: create it once, give
    every worker its id), or `dataset_id` (with `space`, `families`, `metric`) to create one on
    the first trial. The Optuna study's direction must be the warmstart study's (the metric's).
    With `family_param` (default "family") the suggested family is also offered under that name,
    for objectives that search across families (`trial.suggest_categorical("family", [...])`).
    Trials enqueued with fixed parameters are left alone (nothing is asked or reported).
    `pending_timeout_s` (when creating): a trial not reported within it expires on the server,
    so a crashed worker's trial stops counting as pending (default: the server's setting).
    """

    def __init__(
        self,
        client: WarmstartClient | None = None,
        *,
        url: str | None = None,
        api_key: str | None = None,
        study_id: int | None = None,
        dataset_id: int | None = None,
        space: str = "auto",
        families: Sequence[str] | None = None,
        metric: str | None = None,
        n_initial: int = 5,
        seed: int = 0,
        independent_sampler: BaseSampler | None = None,
        family_param: str | None = "family",
        protocol: str = "user",
        pending_timeout_s: float | None = None,
    ) -> None:
        if study_id is None and dataset_id is None:
            raise ValueError("give study_id (an existing warmstart study) or dataset_id (to create one)")
        self.client = client or WarmstartClient(url, api_key)
        self.study_id = study_id
        self._create = {
            "dataset_id": dataset_id,
            "space": space,
            "families": families,
            "metric": metric,
            "n_initial": n_initial,
            "seed": seed,
            "pending_timeout_s": pending_timeout_s,
        }
        self._independent = independent_sampler or optuna.samplers.TPESampler(seed=seed)
        self._search_space = IntersectionSearchSpace()
        self.family_param = family_param
        self.protocol = protocol
        self._lock = threading.Lock()
        self._direction: str | None = None

    # -- the warmstart study -----------------------------------------------------------------
    def _ensure_study(self, study: Study) -> int:
        with self._lock:
            if self.study_id is None:
                created = self.client.create_study(**self._create)  # type: ignore[arg-type]
                self.study_id = created["id"]
                self._direction = created["direction"]
                log.info("created warmstart study %d", self.study_id)
            if self._direction is None:
                self._direction = self.client.get_study(self.study_id)["direction"]
        if study._is_multi_objective():
            raise ValueError("WarmStartSampler supports single-objective studies only")
        wanted = StudyDirection.MAXIMIZE if self._direction == "maximize" else StudyDirection.MINIMIZE
        if study.direction != wanted:
            raise ValueError(
                f"warmstart study {self.study_id} is to {self._direction} its metric, but this Optuna "
                f"study is to {study.direction.name.lower()}; create it with direction={self._direction!r}"
            )
        study._storage.set_study_system_attr(study._study_id, STUDY_ID_ATTR, self.study_id)
        return self.study_id  # type: ignore[return-value]

    # -- BaseSampler ---------------------------------------------------------------------------
    def reseed_rng(self) -> None:
        self._independent.reseed_rng()

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self._independent.before_trial(study, trial)
        if "fixed_params" in trial.system_attrs:
            return  # an enqueued trial: its parameters are given already
        study_id = self._ensure_study(study)
        [suggestion] = self.client.suggest(study_id, 1, timeout=SUGGEST_TIMEOUT_S)["suggestions"]
        params = dict(suggestion["hyperparameters"])
        if self.family_param:
            params[self.family_param] = suggestion["family"]
        storage = study._storage
        storage.set_trial_system_attr(trial._trial_id, TRIAL_ID_ATTR, suggestion["trial_id"])
        storage.set_trial_system_attr(trial._trial_id, PARAMS_ATTR, params)
        storage.set_trial_system_attr(trial._trial_id, SOURCE_ATTR, suggestion["source"])

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return {n: d for n, d in self._search_space.calculate(study).items() if not d.single()}

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        params = trial.system_attrs.get(PARAMS_ATTR, {})
        return {n: params[n] for n, d in search_space.items() if n in params and _fits(d, params[n])}

    def sample_independent(
        self, study: Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        params = trial.system_attrs.get(PARAMS_ATTR, {})
        if param_name in params and _fits(param_distribution, params[param_name]):
            return params[param_name]
        if param_name in params:
            log.warning(
                "trial %d: the suggested %s=%r lies outside %s; sampling it independently",
                trial.number,
                param_name,
                params[param_name],
                param_distribution,
            )
        return self._independent.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(
        self, study: Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None
    ) -> None:
        self._independent.after_trial(study, trial, state, values)
        trial_id = trial.system_attrs.get(TRIAL_ID_ATTR)
        if trial_id is None or self.study_id is None:
            return
        seconds = (datetime.now() - trial.datetime_start).total_seconds() if trial.datetime_start else None
        ok = state == TrialState.COMPLETE and values is not None and math.isfinite(values[0])
        self.client.observe(
            self.study_id,
            trial_id,
            score=float(values[0]) if ok else None,  # type: ignore[index]
            status="ok" if ok else "failed",
            fit_time=seconds,
            error=None if ok else f"Optuna trial {trial.number} ended {state.name}",
            protocol=self.protocol,
        )


def _fits(distribution: BaseDistribution, value: Any) -> bool:
    """Whether `distribution` can hold `value` (so the suggestion is used as it is)."""
    try:
        return bool(distribution._contains(distribution.to_internal_repr(value)))
    except (ValueError, TypeError):
        return False


def enqueue_recommendations(
    study: Study,
    recommendations: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    *,
    family_param: str | None = "family",
) -> int:
    """Enqueue zero-shot picks (the answer of POST /v1/recommendations, or its list) as the study's
    next trials, in rank order; returns how many were enqueued. Works with any sampler."""
    picks = recommendations["recommendations"] if isinstance(recommendations, Mapping) else recommendations
    for pick in picks:
        params = dict(pick["hyperparameters"])
        if family_param:
            params[family_param] = pick["family"]
        attrs = {CONFIGURATION_ATTR: pick.get("configuration_id"), "warmstart:family": pick["family"]}
        study.enqueue_trial(params, user_attrs=attrs, skip_if_exists=True)
    return len(picks)
