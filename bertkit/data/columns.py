"""Finding a column: by name, by position, or several joined; else the first of the usual names.

One finder for every reader's caller (tables as DataFrames, streamed records as dicts). A column is given by
name (`text`), by position (`1`: the second; headerless files name theirs col0, col1, ...) or as names joined by
commas (`title,body`: their texts joined by defaults.TEXT_JOIN_SEPARATOR, a space). Without one, the first of the
usual names (defaults.TEXT_COLUMNS, ...) present, compared without case.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Sequence

from bertkit.defaults import TEXT_JOIN_SEPARATOR
from bertkit.errors import BertkitError

if TYPE_CHECKING:  # pandas is imported by whoever reads tables; streamed records never need it
    import pandas as pd


def column_list(columns: Iterable[Any]) -> str:
    return ", ".join(map(str, columns))


def resolve_column(df: pd.DataFrame, given: str, option: str, src: str) -> str:
    """The column `given` names in `df` (by name, position or joined: a new column of the joined texts)."""
    if given in df.columns:
        return given
    if given.strip().isdigit():
        i = int(given)
        if i < len(df.columns):
            return str(df.columns[i])
        raise BertkitError(f"{src}: {option} {given}: there are only {len(df.columns)} columns "
                           f"({column_list(df.columns)}); positions count from 0")
    parts = [x.strip() for x in given.split(",")] if "," in given else []
    if len(parts) > 1 and all(parts):
        cols = [resolve_column(df, x, option, src) for x in parts]
        df[given] = df[cols].fillna("").astype(str).apply(
            lambda r: TEXT_JOIN_SEPARATOR.join(x.strip() for x in r if x.strip()), axis=1)
        return given
    raise BertkitError(f"{src}: no column {given!r} ({option}); columns are: {column_list(df.columns)}. "
                       f"Instead of {option} {given}, give a name, a position (0, 1, ...) "
                       "or names joined by commas (title,body)")


def usual_name(columns: Iterable[Any], candidates: Sequence[str]) -> str | None:
    """The first of `candidates` among `columns`, compared without case (the column's own spelling)."""
    lower = {str(c).lower(): c for c in columns}
    return next((lower[c] for c in candidates if c in lower), None)


def find_column(df: pd.DataFrame, given: str | None, candidates: Sequence[str], option: str, src: str,
                required: str | None = None) -> str | None:
    """`given` resolved, else the first usual name present; else None, or (with `required`, what the column
    holds) an error asking for `option`."""
    if given:
        return resolve_column(df, given, option, src)
    found = usual_name(df.columns, candidates)
    if found is None and required:
        raise BertkitError(f"{src}: which column holds the {required}? Give {option} "
                           f"(columns: {column_list(df.columns)})")
    return found


def row_text(rec: dict, col: str) -> Any:
    """The value of `col` in one record (streamed rows): by name, position or joined; None when absent."""
    if col in rec:
        return rec[col]
    if col.strip().isdigit():
        i, keys = int(col), list(rec)
        return rec.get(f"col{i}", rec[keys[i]] if i < len(keys) else None)
    parts = [x.strip() for x in col.split(",")] if "," in col else []
    vals = [row_text(rec, p) for p in parts if p]
    if len(vals) < 2 or any(v is None for v in vals):
        return None
    texts = ["" if isinstance(v, float) and v != v else str(v).strip() for v in vals]
    return TEXT_JOIN_SEPARATOR.join(t for t in texts if t)


def find_field(rec: dict, given: str | None, candidates: Sequence[str | None]) -> str | None:
    """The field of a streamed record: `given` as it is, else the first candidate it has (by name, position or
    joined, else by name without case); None when it has none."""
    if given:
        return given
    for c in candidates:
        if c and row_text(rec, c) is not None:
            return c
    return usual_name(rec, [c.lower() for c in candidates if c])
