"""Dataset intake: parse an upload, type its columns, infer the task, hash it, store it once."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from metastore.records import DatasetRecord, NewDataset, TaskType
from metastore.store import MetaStore
from service.problems import IntakeError, UnsupportedMediaType
from service.usecases.metafeatures import compute_metafeatures

log = logging.getLogger("warmstart.intake")

FORMATS = ("csv", "tsv", "parquet", "arff", "json")
_EXTENSIONS = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".arff": "arff",
    ".json": "json",
}
MAX_CLASSIFICATION_LEVELS = 20
ID_MIN_ROWS = 20


@dataclass(frozen=True)
class ParsedTable:
    frame: pd.DataFrame
    file_format: str


@dataclass(frozen=True)
class IntakeRequest:
    name: str
    target: str
    task_type: TaskType | None = None
    description: str = ""
    source: str = "upload"
    origin_group: str | None = None


@dataclass(frozen=True)
class PreparedDataset:
    """A validated table with everything intake decided about it."""

    X: pd.DataFrame
    y: pd.Series
    task_type: TaskType
    column_types: dict[str, str]
    column_stats: dict[str, dict[str, int]]
    content_hash: str


# -- parsing ----------------------------------------------------------------------------------
def detect_format(filename: str | None, content: bytes) -> str:
    name = (filename or "").lower()
    if name.endswith(".gz"):
        name = name[:-3]
    ext = os.path.splitext(name)[1]
    if ext in _EXTENSIONS:
        return _EXTENSIONS[ext]
    head = content[:4096]
    if head.startswith(b"PAR1"):
        return "parquet"
    stripped = head.lstrip()
    if stripped[:1] in (b"[", b"{"):
        return "json"
    if b"@relation" in head.lower():
        return "arff"
    if ext:
        raise UnsupportedMediaType(
            f"Files ending in {ext!r} are not supported. Send CSV, TSV (optionally .gz), "
            "Parquet, ARFF or JSON rows."
        )
    first_line = head.split(b"\n", 1)[0]
    return "tsv" if first_line.count(b"\t") > first_line.count(b",") else "csv"


def parse_table(filename: str | None, content: bytes) -> ParsedTable:
    if not content:
        raise IntakeError("The uploaded file is empty. Send a file with a header row and data.")
    if content[:2] == b"\x1f\x8b":
        try:
            content = gzip.decompress(content)
        except (OSError, EOFError) as exc:
            raise IntakeError(f"The file looks gzip-compressed but cannot be read: {exc}.") from exc
        if not content:
            raise IntakeError("The compressed file is empty.")
    fmt = detect_format(filename, content)
    try:
        frame = _READERS[fmt](content)
    except (IntakeError, UnsupportedMediaType):
        raise
    except Exception as exc:  # each parser raises its own types; all mean "unparseable"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise IntakeError(
            f"The file could not be parsed as {fmt.upper()}: {first}. Check the format and "
            "that the first row holds the column names."
        ) from exc
    if frame.shape[1] == 0 or frame.shape[0] == 0:
        raise IntakeError(f"The {fmt.upper()} file has no data rows or no columns.")
    frame.columns = [str(c) for c in frame.columns]
    if len(set(frame.columns)) != len(frame.columns):
        dupes = sorted({c for c in frame.columns if list(frame.columns).count(c) > 1})
        raise IntakeError(f"Column names must be unique; repeated: {dupes[:10]}.")
    return ParsedTable(frame, fmt)


def _read_delimited(content: bytes, sep: str) -> pd.DataFrame:
    raw_names = list(pd.read_csv(io.BytesIO(content), sep=sep, nrows=1, header=None).iloc[0])
    frame = pd.read_csv(io.BytesIO(content), sep=sep, low_memory=False)
    # pandas renames a repeated name "a" to "a.1"; a repeated column is an error, not a new one.
    if len(set(map(str, raw_names))) != len(raw_names):
        frame.columns = [str(c) for c in raw_names]
    return frame


def _read_csv(content: bytes) -> pd.DataFrame:
    return _read_delimited(content, ",")


def _read_tsv(content: bytes) -> pd.DataFrame:
    return _read_delimited(content, "\t")


def _read_parquet(content: bytes) -> pd.DataFrame:
    return pd.read_parquet(io.BytesIO(content))


def _read_arff(content: bytes) -> pd.DataFrame:
    import arff  # liac-arff

    data = arff.loads(content.decode("utf-8", errors="replace"))
    names = [a[0] for a in data["attributes"]]
    frame = pd.DataFrame(data["data"], columns=names)
    for name, kind in data["attributes"]:
        if isinstance(kind, list):  # nominal attribute
            frame[name] = frame[name].astype("object")
    return frame


def _read_json(content: bytes) -> pd.DataFrame:
    rows = json.loads(content)
    if isinstance(rows, dict) and "rows" in rows:
        rows = rows["rows"]
    return rows_to_frame(rows)


def rows_to_frame(rows: object) -> pd.DataFrame:
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise IntakeError("JSON data must be a list of objects, one per row (column -> value).")
    for r in rows:
        for v in r.values():
            if isinstance(v, dict | list):
                raise IntakeError("Each cell must be a number, a string, a boolean or null.")
    return pd.DataFrame.from_records(rows)


_READERS = {
    "csv": _read_csv,
    "tsv": _read_tsv,
    "parquet": _read_parquet,
    "arff": _read_arff,
    "json": _read_json,
}


def dataset_name(filename: str | None) -> str:
    """A dataset's default name: the file name without folders and data-file extensions."""
    if not filename:
        return ""
    name = filename.rsplit("/", 1)[-1]
    for ext in (".gz", ".csv", ".tsv", ".tab", ".txt", ".parquet", ".pq", ".arff", ".json"):
        if name.lower().endswith(ext):
            name = name[: -len(ext)]
    return name


def parse_task_type(value: str | None) -> TaskType | None:
    """A task type given as text (form field, CLI option); None when not given."""
    if not value:
        return None
    if value not in ("classification", "regression"):
        raise IntakeError(f"task_type must be classification or regression, not {value!r}.")
    return value  # type: ignore[return-value]


# -- typing and validation --------------------------------------------------------------------
def column_kind(col: pd.Series, n_rows: int) -> str:
    non_missing = col.dropna()
    n_unique = int(non_missing.nunique())
    if n_unique <= 1:
        return "constant"
    if pd.api.types.is_bool_dtype(col) or (n_unique == 2 and _boolean_values(non_missing)):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(col):
        return "id"
    numeric = pd.api.types.is_numeric_dtype(col)
    all_unique = n_unique == len(non_missing) == n_rows and n_rows >= ID_MIN_ROWS
    if not numeric:
        return "id" if all_unique else "categorical"
    if all_unique and pd.api.types.is_integer_dtype(col) and non_missing.is_monotonic_increasing:
        return "id"
    return "numeric"


def _boolean_values(values: pd.Series) -> bool:
    normalised = {str(v).strip().lower() for v in values.unique()}
    return normalised <= {"true", "false", "yes", "no", "t", "f", "y", "n"}


def infer_task_type(y: pd.Series) -> TaskType:
    if not pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y):
        return "classification"
    values = y.to_numpy(dtype=float)
    integral = bool(np.all(np.equal(np.mod(values, 1), 0)))
    return "classification" if integral and y.nunique() <= MAX_CLASSIFICATION_LEVELS else "regression"


def prepare(
    frame: pd.DataFrame, target: str, task_type: TaskType | None, min_rows: int, max_columns: int
) -> PreparedDataset:
    if target not in frame.columns:
        shown = ", ".join(repr(c) for c in list(frame.columns)[:20])
        raise IntakeError(
            f"Unknown target column {target!r}. The columns are: {shown}"
            + (" ..." if frame.shape[1] > 20 else "")
            + ". Pass one of them as target.",
            target=target,
        )
    if frame.shape[1] - 1 > max_columns:
        raise IntakeError(
            f"The dataset has {frame.shape[1] - 1} feature columns; the limit is {max_columns}. "
            "Select features first, or raise WARMSTART_MAX_COLUMNS on the server."
        )
    if frame.shape[1] < 2:
        raise IntakeError("The dataset has no feature columns besides the target.")
    y = frame[target]
    if y.isna().all():
        raise IntakeError(f"The target column {target!r} is entirely missing.")
    keep = y.notna().to_numpy()
    frame = frame.loc[keep].reset_index(drop=True)
    y = frame[target]
    if len(frame) < min_rows:
        raise IntakeError(
            f"The dataset has {len(frame)} rows with a target value; at least {min_rows} are "
            "needed to learn anything about it."
        )
    inferred = infer_task_type(y)
    task = task_type or inferred
    if task == "regression" and not pd.api.types.is_numeric_dtype(y):
        raise IntakeError(
            f"task_type=regression needs a numeric target, but {target!r} holds text "
            f"(e.g. {y.iloc[0]!r}). Use task_type=classification or another target."
        )
    if task == "classification" and y.nunique() < 2:
        raise IntakeError(
            f"The target {target!r} has a single class ({y.iloc[0]!r}); classification needs at least two."
        )
    X = frame.drop(columns=[target])
    n = len(X)
    column_types = {c: column_kind(X[c], n) for c in X.columns}
    if all(kind in ("id", "constant") for kind in column_types.values()):
        raise IntakeError(
            "Every feature column is an identifier or constant, so there is nothing to learn "
            f"from: {column_types}. Add informative columns."
        )
    column_stats = {c: {"missing": int(X[c].isna().sum()), "unique": int(X[c].nunique())} for c in X.columns}
    return PreparedDataset(
        X=X,
        y=y,
        task_type=task,
        column_types=column_types,
        column_stats=column_stats,
        content_hash=content_hash(X, y, target),
    )


def content_hash(X: pd.DataFrame, y: pd.Series, target: str) -> str:
    """SHA-256 of the table's values, column names and target: same content, same hash."""
    h = hashlib.sha256()
    h.update(json.dumps([list(map(str, X.columns)), target]).encode())
    for frame in (X, y.to_frame()):
        h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return h.hexdigest()


# -- the use case -----------------------------------------------------------------------------
def ingest(
    store: MetaStore,
    uploads_dir: Path,
    request: IntakeRequest,
    raw: bytes | None,
    parsed: ParsedTable,
    min_rows: int,
    max_columns: int,
) -> tuple[DatasetRecord, bool]:
    """Validate, store the raw file under a server-chosen name, and record the dataset.

    Nothing is left behind when any step fails: the raw file is written to a temporary name
    and only renamed once the metastore has committed the record.
    """
    prepared = prepare(parsed.frame, request.target, request.task_type, min_rows, max_columns)
    existing = store.find_dataset(prepared.content_hash)
    if existing is not None:
        return existing, False
    vector = compute_metafeatures(prepared.X, prepared.y, prepared.column_types, prepared.task_type)
    file_id = f"{uuid.uuid4().hex}.{parsed.file_format}"
    final_path = uploads_dir / file_id
    tmp_path = uploads_dir / f".{file_id}.partial"
    _write_raw(tmp_path, raw, parsed.frame)
    try:
        record, created = store.add_dataset(
            NewDataset(
                name=request.name,
                description=request.description,
                source=request.source,
                content_hash=prepared.content_hash,
                task_type=prepared.task_type,
                target=request.target,
                n_rows=len(prepared.X),
                n_features=prepared.X.shape[1],
                column_types=prepared.column_types,
                column_stats=prepared.column_stats,
                origin_group=request.origin_group,
                raw_file=file_id,
                file_format=parsed.file_format,
                metafeatures=vector,
            )
        )
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    if created:
        tmp_path.replace(final_path)
    else:  # a concurrent upload of the same content won the race
        tmp_path.unlink(missing_ok=True)
    return record, created


def _write_raw(path: Path, raw: bytes | None, frame: pd.DataFrame) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if raw is not None:
        path.write_bytes(raw)
    else:
        frame.to_json(path, orient="records")


def load_raw(uploads_dir: Path, record: DatasetRecord) -> tuple[pd.DataFrame, pd.Series]:
    """Read a stored dataset back as (X, y) for later jobs."""
    if not record.raw_file:
        raise IntakeError(f"Dataset {record.id} has no stored raw file (it came from {record.source}).")
    path = uploads_dir / record.raw_file
    parsed = parse_table(path.name, path.read_bytes())
    frame = parsed.frame[parsed.frame[record.target].notna()].reset_index(drop=True)
    return frame.drop(columns=[record.target]), frame[record.target]
