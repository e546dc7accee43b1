"""Stored configurations brought to a newer version of their search space, in place.

When a space gains a hyperparameter whose default is what every earlier configuration trained,
the stored configurations of the old version are the same models as the new version's with that
default filled in. Moving them (rather than keeping two versions side by side) keeps each model
one column of the knowledge base, and its evaluations and study trials where they are.

The rules are frozen here, apart from the code that defines the spaces today (``learners.spaces``),
because migrations and old knowledge-base files must keep meaning what they meant:

* **class_weight** (space version 2 of the classification spaces of lightgbm, hist_gb,
  random_forest, extra_trees, linear and svm): version-1 configurations get
  ``class_weight="none"`` (the library default, ``None``).

Used by migration 0009 (stored rows) and by ``load_kb`` (files exported before it).
"""

from __future__ import annotations

import copy
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from metastore.sql import config_hash

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

CLASS_WEIGHT_FAMILIES = ("lightgbm", "hist_gb", "random_forest", "extra_trees", "linear", "svm")
CLASS_WEIGHT_HP = {
    "type": "categorical",
    "name": "class_weight",
    "choices": ["none", "balanced"],
    "weights": None,
    "default_value": "none",
    "meta": None,
}

_spaces = sa.table(
    "search_spaces",
    sa.column("id", sa.Integer),
    sa.column("family", sa.String),
    sa.column("task_type", sa.String),
    sa.column("version", sa.String),
    sa.column("definition", JSON),
)
_configs = sa.table(
    "configurations",
    sa.column("id", sa.Integer),
    sa.column("space_id", sa.Integer),
    sa.column("values", JSON),
    sa.column("config_hash", sa.String),
    sa.column("name", sa.String),
)
_evaluations = sa.table("evaluations", sa.column("configuration_id", sa.Integer))
_trials = sa.table("study_trials", sa.column("configuration_id", sa.Integer))


def _v2_definition(definition: dict[str, Any], family: str) -> dict[str, Any]:
    """A version-1 classification space definition with ``class_weight`` added."""
    out = copy.deepcopy(definition)
    name = f"{family}-classification-v2"
    out.update(name=name, version=2)
    out["default"] = {**out.get("default", {}), "class_weight": "none"}
    cs = out.get("configspace")
    if isinstance(cs, dict):
        cs["name"] = name
        # ConfigSpace's order: unconditional hyperparameters by name, then conditional ones.
        children = {c.get("child") for c in cs.get("conditions", [])}
        hps = [h for h in cs.get("hyperparameters", []) if h.get("name") != "class_weight"]
        roots = sorted(
            [*(h for h in hps if h["name"] not in children), CLASS_WEIGHT_HP], key=lambda h: h["name"]
        )
        cs["hyperparameters"] = roots + [h for h in hps if h["name"] in children]
    return out


def _v1_definition(definition: dict[str, Any], family: str) -> dict[str, Any]:
    """A version-2 classification space definition without ``class_weight``."""
    out = copy.deepcopy(definition)
    name = f"{family}-classification-v1"
    out.update(name=name, version=1)
    out.get("default", {}).pop("class_weight", None)
    cs = out.get("configspace")
    if isinstance(cs, dict):
        cs["name"] = name
        cs["hyperparameters"] = [h for h in cs.get("hyperparameters", []) if h.get("name") != "class_weight"]
    return out


def _class_weight_spaces(conn: Connection, version: str) -> list[Any]:
    """The stored classification spaces of the class-weight families at `version`."""
    return conn.execute(
        sa.select(_spaces).where(
            _spaces.c.family.in_(CLASS_WEIGHT_FAMILIES),
            _spaces.c.task_type == "classification",
            _spaces.c.version == version,
        )
    ).all()


def upgrade_class_weight(conn: Connection) -> int:
    """Move every version-1 classification space of the class-weight families to version 2
    (merging into a version 2 already there); returns how many configurations moved."""
    moved = 0
    for space in _class_weight_spaces(conn, "1"):
        target = conn.execute(
            sa.select(_spaces.c.id).where(
                _spaces.c.family == space.family,
                _spaces.c.task_type == "classification",
                _spaces.c.version == "2",
            )
        ).scalar()
        if target is None:  # the space itself moves
            conn.execute(
                _spaces.update()
                .where(_spaces.c.id == space.id)
                .values(version="2", definition=_v2_definition(space.definition, space.family))
            )
            target = space.id
        there = {
            r.config_hash: r.id
            for r in conn.execute(
                sa.select(_configs.c.id, _configs.c.config_hash).where(_configs.c.space_id == target)
            )
        }
        for c in conn.execute(sa.select(_configs).where(_configs.c.space_id == space.id)).all():
            values = {**c.values, "class_weight": "none"}
            digest = config_hash(values)
            same = there.get(digest)
            if same is None:
                conn.execute(
                    _configs.update()
                    .where(_configs.c.id == c.id)
                    .values(space_id=target, values=values, config_hash=digest)
                )
                there[digest] = c.id
            else:  # the same model is stored under version 2 already: one row keeps the results
                for table in (_evaluations, _trials):
                    conn.execute(
                        table.update().where(table.c.configuration_id == c.id).values(configuration_id=same)
                    )
                conn.execute(_configs.delete().where(_configs.c.id == c.id))
            moved += 1
        if target != space.id:
            conn.execute(_spaces.delete().where(_spaces.c.id == space.id))
    return moved


def downgrade_class_weight(conn: Connection) -> int:
    """Back to version 1: "none" configurations lose the key; "balanced" ones, which version 1
    cannot express, are deleted with their evaluations and trials. Returns how many were deleted."""
    deleted = 0
    for space in _class_weight_spaces(conn, "2"):
        for c in conn.execute(sa.select(_configs).where(_configs.c.space_id == space.id)).all():
            values = dict(c.values)
            if values.pop("class_weight", "none") != "none":
                for table in (_evaluations, _trials):
                    conn.execute(table.delete().where(table.c.configuration_id == c.id))
                conn.execute(_configs.delete().where(_configs.c.id == c.id))
                deleted += 1
                continue
            conn.execute(
                _configs.update()
                .where(_configs.c.id == c.id)
                .values(values=values, config_hash=config_hash(values))
            )
        conn.execute(
            _spaces.update()
            .where(_spaces.c.id == space.id)
            .values(version="1", definition=_v1_definition(space.definition, space.family))
        )
    return deleted


def upgrade_file_entries(
    spaces: list[dict[str, Any]], configurations: list[dict[str, Any]]
) -> tuple[
    list[dict[str, Any]], list[dict[str, Any]], dict[tuple[str, str, str, str], tuple[str, str, str, str]]
]:
    """A knowledge-base file's spaces and configurations (``metastore.kb.bundle`` header
    entries) upgraded as ``upgrade_class_weight`` upgrades stored rows, and the map from each
    moved configuration's old (family, task type, space version, hash) to its new one."""

    def old(entry: dict[str, Any], version_key: str) -> bool:
        return (
            entry["family"] in CLASS_WEIGHT_FAMILIES
            and entry["task_type"] == "classification"
            and str(entry[version_key]) == "1"
        )

    have_v2 = {s["family"] for s in spaces if s["task_type"] == "classification" and str(s["version"]) == "2"}
    new_spaces = [s for s in spaces if not old(s, "version")]
    new_spaces += [
        {**s, "version": "2", "definition": _v2_definition(s["definition"], s["family"])}
        for s in spaces
        if old(s, "version") and s["family"] not in have_v2
    ]
    moved: dict[tuple[str, str, str, str], tuple[str, str, str, str]] = {}
    new_configs = []
    for c in configurations:
        if not old(c, "space_version"):
            new_configs.append(c)
            continue
        values = {**c["values"], "class_weight": "none"}
        entry = {**c, "space_version": "2", "values": values, "hash": config_hash(values)}
        moved[(c["family"], c["task_type"], str(c["space_version"]), c["hash"])] = (
            entry["family"],
            entry["task_type"],
            "2",
            entry["hash"],
        )
        new_configs.append(entry)
    return new_spaces, new_configs, moved
