"""Read per-individual score tables: polygenic scores and gene burden scores.

Two layouts are understood:

- a *wide table* (CSV, TSV or a :class:`pandas.DataFrame`): one row per
  individual, an id column (``IID`` or another name passed as ``id_column``) and
  one numeric column per feature (PGS id or gene name); an ``FID`` column is
  ignored;
- a ``plink2 --score`` output (``.sscore``; header ``#FID IID ...`` or
  ``#IID ...``) with score columns ending in ``_AVG`` (default) or ``_SUM``.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import xarray as xr

from ._schema import GENETIC

__all__ = ["read_pgs", "read_burden"]

#: Column names recognised as the individual id, in order of preference.
ID_COLUMNS = ("IID", "#IID", "iid", "individual", "individual_id", "sample", "eid", "id")
#: The same names with ``sample`` first: for tables that may be keyed by image
#: sample (labels with one row per eye) rather than by individual.
SAMPLE_ID_COLUMNS = ("sample",) + tuple(c for c in ID_COLUMNS if c != "sample")
_IGNORED = ("FID", "#FID", "fid")
#: ``read_csv`` dtypes that keep ids as written (``"001"`` stays ``"001"``).
ID_DTYPES = {name: str for name in ID_COLUMNS + _IGNORED + ("path",)}
#: plink2 .sscore columns that end like a score but are not one.
_SSCORE_NOT_SCORES = ("NAMED_ALLELE_DOSAGE_SUM",)


def _separator(path: str, sep):
    if sep is not None:
        return sep
    name = path[:-3] if path.endswith(".gz") else path
    if name.endswith(".csv"):
        return ","
    if name.endswith((".tsv", ".sscore", ".tab")):
        return "\t"
    return r"\s+"


def _read_table(source, sep, id_column=None) -> tuple[pd.DataFrame, str]:
    if isinstance(source, pd.DataFrame):
        return source, "table"
    path = os.fspath(source)
    if not os.path.exists(path):
        raise FileNotFoundError(f"table {path!r} does not exist")
    sep = _separator(path, sep)
    dtype = {**ID_DTYPES, **({id_column: str} if id_column is not None else {})}
    table = pd.read_csv(path, sep=sep, engine="python" if sep == r"\s+" else "c", dtype=dtype)
    return table, path


def _id_index(values, name, where: str) -> pd.Index:
    """Ids as a str Index named ``name``; a missing id (None, NaN) raises."""
    values = np.asarray(values)
    missing = np.flatnonzero(pd.isna(values))
    if len(missing):
        raise ValueError(
            f"{where}: id column {name!r} has missing ids (None or NaN) in rows {missing[:5].tolist()}"
        )
    return pd.Index(values.astype(str), name=name)


def id_index(table: pd.DataFrame, id_column=None, *, candidates=ID_COLUMNS,
             where: str = "table") -> pd.Index:
    """The ids of the rows of ``table`` as a str Index named after their column.

    Parameters
    ----------
    table : pandas.DataFrame
    id_column : str, default=None
        Name of the id column (or of the index); when omitted, the first column
        named in ``candidates``, else the index when it is named so.
    candidates : sequence of str, default=ID_COLUMNS
        Recognised id column names, in order of preference.
    where : str, default="table"
        What the table is (a path), for the messages.

    Returns
    -------
    ids : pandas.Index of str

    Raises
    ------
    ValueError
        No id column, or a missing id (None, NaN) in it.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"individual": [1, 2], "sample": ["a", "b"]})
    >>> id_index(table).tolist()
    ['1', '2']
    >>> id_index(table, candidates=SAMPLE_ID_COLUMNS).name
    'sample'
    """
    if id_column is not None:
        if id_column in table.columns:
            return _id_index(table[id_column].to_numpy(), id_column, where)
        if table.index.name == id_column:
            return _id_index(table.index.to_numpy(), id_column, where)
        raise ValueError(
            f"{where}: id_column {id_column!r} is not a column; columns are "
            f"{list(table.columns)[:10]}"
        )
    for name in candidates:
        if name in table.columns:
            return _id_index(table[name].to_numpy(), name, where)
    if table.index.name in candidates:
        return _id_index(table.index.to_numpy(), table.index.name, where)
    raise ValueError(
        f"{where}: no id column found; expected a column named one of {list(candidates)}, "
        f"got columns {list(table.columns)[:10]}"
    )


def _numeric(table: pd.DataFrame, columns, where: str) -> np.ndarray:
    for col in columns:
        dtype = table[col].dtype
        if not pd.api.types.is_numeric_dtype(dtype):
            if table[col].isna().all():
                continue
            raise TypeError(
                f"{where}: column {col!r} must be numeric, got dtype {dtype} "
                f"(e.g. {table[col].dropna().iloc[0]!r})"
            )
    return table[list(columns)].to_numpy(dtype=np.float32, na_value=np.nan)


def _is_sscore(table: pd.DataFrame, where: str) -> bool:
    first = str(table.columns[0]) if len(table.columns) else ""
    return where.endswith((".sscore", ".sscore.gz")) or first in ("#FID", "#IID")


def _parse(source, id_column, sep, score) -> pd.DataFrame:
    """One table -> DataFrame indexed by individual id, one float column per feature."""
    table, where = _read_table(source, sep, id_column)
    ids = id_index(table, id_column, where=where)
    if _is_sscore(table, where):
        suffix = "_AVG" if score == "avg" else "_SUM"
        cols = [
            c
            for c in table.columns
            if str(c).endswith(suffix) and c not in _SSCORE_NOT_SCORES
        ]
        if not cols:
            raise ValueError(
                f"{where}: no plink2 score column ending in {suffix!r}; "
                f"columns are {list(table.columns)}"
            )
        values = _numeric(table, cols, where)
        if len(cols) == 1 and where != "table":
            stem = os.path.basename(where)
            stem = stem[:-3] if stem.endswith(".gz") else stem
            names = [os.path.splitext(stem)[0]]
        else:
            names = [str(c)[: -len(suffix)] for c in cols]
    else:
        cols = [c for c in table.columns if c != ids.name and c not in _IGNORED]
        if not cols:
            raise ValueError(f"{where}: no feature column besides the id column {ids.name!r}")
        values = _numeric(table, cols, where)
        names = [str(c) for c in cols]
    if ids.has_duplicates:
        dup = ids[ids.duplicated()].unique()[:5].tolist()
        raise ValueError(f"{where}: id column {ids.name!r} has duplicate ids, e.g. {dup}")
    return pd.DataFrame(values, index=pd.Index(ids.to_numpy(), name=None), columns=names)


def _read_scores(sources, id_column, sep, score, name, fdim) -> xr.DataArray:
    if score not in ("avg", "sum"):
        raise ValueError(f"score must be 'avg' or 'sum', got {score!r}")
    if isinstance(sources, (str, os.PathLike, pd.DataFrame)):
        sources = [sources]
    sources = list(sources)
    if not sources:
        raise ValueError(f"no {name} table given (empty list)")
    frames = [_parse(s, id_column, sep, score) for s in sources]
    columns = pd.Index(np.concatenate([f.columns.to_numpy() for f in frames]))
    if columns.has_duplicates:
        dup = columns[columns.duplicated()].unique()[:5].tolist()
        raise ValueError(f"{name} feature names repeat across tables, e.g. {dup}")
    ids = pd.Index(pd.unique(np.concatenate([f.index.to_numpy() for f in frames])))
    values = np.concatenate(
        [f.reindex(ids).to_numpy(dtype=np.float32) for f in frames], axis=1
    )
    ids = ids.to_numpy().astype(str)
    return xr.DataArray(
        values,
        dims=("sample", fdim),
        coords={"sample": ids, "individual": ("sample", ids), fdim: columns.to_numpy().astype(str)},
        name=name,
        attrs={"kind": GENETIC},
    )


def read_pgs(
    paths_or_table,
    id_column: str | None = None,
    *,
    score: str = "avg",
    sep: str | None = None,
) -> xr.DataArray:
    """Read polygenic scores into a ``(sample, pgs_id)`` DataArray.

    Parameters
    ----------
    paths_or_table : path, DataFrame, or a sequence of them
        A wide table (one row per individual, one column per score), or
        ``plink2 --score`` ``.sscore`` files. A file with one score column names
        its score after the file stem (``PGS000001.sscore`` -> ``PGS000001``);
        several score columns are named after the column without its
        ``_AVG``/``_SUM`` suffix. Several tables are outer-joined on the id:
        individuals missing from one table get NaN for its scores.
    id_column : str, default=None
        Name of the individual id column; the first of :data:`ID_COLUMNS`
        present when omitted (a DataFrame may also carry the ids as its index
        named like that).
    score : {"avg", "sum"}, default="avg"
        Which plink2 score columns to use (``*_AVG`` or ``*_SUM``).
    sep : str, default=None
        Column separator; from the extension when omitted (``.csv`` comma,
        ``.tsv``/``.sscore`` tab, else whitespace).

    Returns
    -------
    pgs : xarray.DataArray of shape (n_individuals, n_scores)
        Named ``"pgs"``, ``attrs["kind"] == "genetic"``, float32, with
        coordinates ``sample`` and ``individual`` (the ids, as strings) and
        ``pgs_id``.

    Raises
    ------
    ValueError
        No id column, duplicate ids, or no score column.
    TypeError
        A score column is not numeric (the message names it).

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn_contig.data import read_pgs
    >>> table = pd.DataFrame({"IID": [1, 2, 3], "PGS000001": [0.1, -0.2, 0.3],
    ...                       "PGS000002": [1.0, 0.0, None]})
    >>> pgs = read_pgs(table)
    >>> pgs.dims, pgs["pgs_id"].values.tolist()
    (('sample', 'pgs_id'), ['PGS000001', 'PGS000002'])
    >>> pgs["individual"].values.tolist()
    ['1', '2', '3']
    """
    return _read_scores(paths_or_table, id_column, sep, score, "pgs", "pgs_id")


def read_burden(
    path,
    id_column: str | None = None,
    *,
    sep: str | None = None,
) -> xr.DataArray:
    """Read a gene burden table into a ``(sample, gene)`` DataArray.

    Parameters
    ----------
    path : path, DataFrame, or a sequence of them
        Wide table(s): one row per individual, one numeric column per gene.
        Several tables are outer-joined on the id.
    id_column : str, default=None
        Name of the individual id column; see :func:`read_pgs`.
    sep : str, default=None
        Column separator; see :func:`read_pgs`.

    Returns
    -------
    burden : xarray.DataArray of shape (n_individuals, n_genes)
        Named ``"burden"``, ``attrs["kind"] == "genetic"``, float32, with
        coordinates ``sample``, ``individual`` and ``gene``.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn_contig.data import read_burden
    >>> table = pd.DataFrame({"eid": ["a", "b"], "BRCA1": [0, 1], "TTN": [2, 0]})
    >>> read_burden(table)["gene"].values.tolist()
    ['BRCA1', 'TTN']
    """
    return _read_scores(path, id_column, sep, "avg", "burden", "gene")
