"""Distances between meta-feature vectors: robust scaling, missing values skipped, groups weighted equally."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from learners.metafeatures.extract import EXTRACTOR_VERSION, feature_groups

CLIP = 5.0  # scaled values beyond this many IQRs from the median count as this far


@dataclass(frozen=True)
class Scaling:
    """Per-feature centre (median) and scale (IQR, falling back to 1.4826 MAD, then std, then 1)."""

    names: tuple[str, ...]
    centre: np.ndarray
    scale: np.ndarray

    def transform(self, matrix: np.ndarray) -> np.ndarray:
        return np.clip((matrix - self.centre) / self.scale, -CLIP, CLIP)


def to_matrix(vectors: Sequence[Mapping[str, float]], names: Sequence[str]) -> np.ndarray:
    """Stack dict vectors into a (len(vectors), len(names)) float matrix, NaN where a name is absent."""
    out = np.full((len(vectors), len(names)), np.nan)
    for i, vector in enumerate(vectors):
        for j, name in enumerate(names):
            value = vector.get(name)
            if value is not None:
                out[i, j] = float(value)
    out[~np.isfinite(out)] = np.nan
    return out


def fit_scaling(matrix: np.ndarray, names: Sequence[str]) -> Scaling:
    """Robust per-column centre and scale of a matrix with NaN holes."""
    centre = np.zeros(matrix.shape[1])
    scale = np.ones(matrix.shape[1])
    for j in range(matrix.shape[1]):
        col = matrix[:, j][~np.isnan(matrix[:, j])]
        if col.size == 0:
            continue
        centre[j] = np.median(col)
        q1, q3 = np.quantile(col, [0.25, 0.75])
        for spread in (q3 - q1, 1.4826 * np.median(np.abs(col - centre[j])), col.std()):
            if spread > 0:
                scale[j] = spread
                break
    return Scaling(tuple(names), centre, scale)


def compatible(version: str | None, reference: str = EXTRACTOR_VERSION) -> bool:
    """Whether a vector made by extractor `version` is comparable with one made by `reference`."""
    return version is not None and version.split(".")[0] == reference.split(".")[0]


def feature_weights(names: Sequence[str], group_weights: Mapping[str, float] | None = None) -> np.ndarray:
    """Each group gets its weight (default 1) shared equally among its features present in `names`.

    So the 60-odd general features do not drown the 8 landmarkers; unknown names form one group.
    """
    groups = feature_groups()
    of = [groups.get(name, "unknown") for name in names]
    sizes = {g: of.count(g) for g in set(of)}
    weights = group_weights or {}
    return np.array([weights.get(g, 1.0) / sizes[g] for g in of], dtype=float)


def distances(
    stored: Sequence[Mapping[str, float]],
    query: Mapping[str, float],
    versions: Sequence[str | None] | None = None,
    group_weights: Mapping[str, float] | None = None,
    min_overlap: float = 0.5,
) -> np.ndarray:
    """Distance from `query` to each stored vector (smaller is more alike), in stored order.

    Features are the finite ones of the query; each is scaled by the median and IQR of the stored
    vectors, clipped to +-CLIP, and weighted so that every group counts equally (or as
    `group_weights` says). A feature missing on either side is skipped and the remaining weights
    renormalised. The distance is inf when the shared weight is below `min_overlap` of the total or
    when `versions[i]` is incompatible with EXTRACTOR_VERSION (recompute those vectors).
    """
    names = sorted(k for k, v in query.items() if v is not None and math.isfinite(float(v)))
    if not stored:
        return np.zeros(0)
    if not names:
        raise ValueError("the query vector has no finite value: extract its meta-features first")
    matrix = to_matrix(stored, names)
    scaling = fit_scaling(matrix, names)
    stored_z = scaling.transform(matrix)
    query_z = scaling.transform(to_matrix([query], names))[0]
    weights = feature_weights(names, group_weights)
    shared = ~np.isnan(stored_z)
    diff = np.where(shared, stored_z - query_z, 0.0)
    used = shared @ weights
    with np.errstate(all="ignore"):
        result = np.sqrt((diff * diff) @ weights / used)
    result[(used <= 0) | (used < min_overlap * weights.sum())] = np.inf
    if versions is not None:
        if len(versions) != len(stored):
            raise ValueError(f"{len(versions)} versions for {len(stored)} stored vectors")
        result[[not compatible(v) for v in versions]] = np.inf
    return result


def nearest(
    stored: Sequence[Mapping[str, float]], query: Mapping[str, float], k: int, **kwargs
) -> list[tuple[int, float]]:
    """(index, distance) of the k stored vectors closest to `query`, closest first, finite only."""
    dist = distances(stored, query, **kwargs)
    order = np.argsort(dist, kind="stable")[:k]
    return [(int(i), float(dist[i])) for i in order if np.isfinite(dist[i])]
