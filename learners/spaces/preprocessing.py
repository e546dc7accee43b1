"""Per-family preprocessing: imputation, categorical encoding and scaling as one ColumnTransformer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    OneHotEncoder,
    OrdinalEncoder,
    StandardScaler,
)

ColumnKind = Literal["numeric", "categorical"]
Encoding = Literal["native_nan", "imputed_ordinal", "scaled_onehot"]

#: Most one-hot columns a categorical feature may produce; rarer levels share one column.
MAX_ONEHOT_CATEGORIES = 32


def split_columns(column_types: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """Return (numeric, categorical) column names; raise on a kind other than the two known."""
    numeric, categorical = [], []
    for name, kind in column_types.items():
        if kind == "numeric":
            numeric.append(name)
        elif kind == "categorical":
            categorical.append(name)
        else:
            raise ValueError(f"column {name!r} has kind {kind!r}; use 'numeric' or 'categorical'")
    return numeric, categorical


def categories_as_text(X: object) -> object:
    """Turn non-missing values of object columns into strings, keep NaN and numeric columns.

    Encoders refuse a column mixing numbers and strings (a CSV column of codes with a few
    labels); numeric columns keep their dtype, so integer codes keep their order.
    """
    frame = pd.DataFrame(X).copy()
    for col in frame.columns:
        if frame[col].dtype == object:
            values = frame[col]
            frame[col] = values.where(values.isna(), values.astype(str))
    return frame


def _text() -> FunctionTransformer:
    return FunctionTransformer(categories_as_text, feature_names_out="one-to-one")


def _ordinal() -> Pipeline:
    return Pipeline(
        [
            ("as_text", _text()),
            ("impute", SimpleImputer(strategy="most_frequent")),
            (
                "encode",
                OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, dtype=np.float64),
            ),
        ]
    )


def make_preprocessor(column_types: Mapping[str, str], encoding: Encoding) -> ColumnTransformer:
    """Build the ColumnTransformer a family uses so that any configuration runs on any table.

    - ``native_nan`` (gradient boosting): numeric columns pass through with their NaNs, which the
      booster routes itself; categorical columns are imputed and ordinal-coded.
    - ``imputed_ordinal`` (random forests, extra trees): median imputation with missing-value
      indicators for numeric columns; categorical columns as above.
    - ``scaled_onehot`` (linear, SVM, k-NN, MLP): median imputation with indicators then
      standardisation; categorical columns imputed and one-hot coded (at most
      ``MAX_ONEHOT_CATEGORIES`` columns each, unknown levels ignored).
    """
    numeric, categorical = split_columns(column_types)
    if encoding == "native_nan":
        num: object = "passthrough"
        cat: object = _ordinal()
    elif encoding == "imputed_ordinal":
        num = SimpleImputer(strategy="median", add_indicator=True)
        cat = _ordinal()
    elif encoding == "scaled_onehot":
        num = Pipeline(
            [
                ("impute", SimpleImputer(strategy="median", add_indicator=True)),
                ("scale", StandardScaler()),
            ]
        )
        cat = Pipeline(
            [
                ("as_text", _text()),
                ("impute", SimpleImputer(strategy="most_frequent")),
                (
                    "encode",
                    OneHotEncoder(
                        handle_unknown="infrequent_if_exist",
                        max_categories=MAX_ONEHOT_CATEGORIES,
                        sparse_output=False,
                    ),
                ),
            ]
        )
    else:
        raise ValueError(f"unknown encoding {encoding!r}; use native_nan, imputed_ordinal or scaled_onehot")
    transformers = []
    if numeric:
        transformers.append(("numeric", num, numeric))
    if categorical:
        transformers.append(("categorical", cat, categorical))
    if not transformers:
        raise ValueError("column_types is empty; the dataset needs at least one feature column")
    return ColumnTransformer(transformers, remainder="drop", sparse_threshold=0.0)
