"""Reading tabular data: CSV, TSV (with or without header), JSON, JSONL, Parquet, or a Hugging Face dataset.

Files become a pandas DataFrame with string column names; headerless CSV/TSV
columns are named col0, col1, ... (options such as --text-col also take positions: 0, 1, ...).
Text must be UTF-8; .csv is comma-separated and .tsv tab-separated. A Hugging Face dataset is written
`NAME[:CONFIG][#SPLIT]` (for example `glue:sst2#validation`); it needs the hub
(or the local datasets cache).
"""

from __future__ import annotations

import csv
import io
import itertools
import json
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator

if TYPE_CHECKING:  # pandas is imported where a table is read: `predict` over text or JSON Lines never needs it
    import pandas as pd

from bertkit.defaults import LABEL_COLUMNS, PAIR_COLUMNS, TEXT_COLUMNS
from bertkit.errors import BertkitError

KNOWN_COLUMNS = {c.lower() for c in (*TEXT_COLUMNS, *PAIR_COLUMNS, *LABEL_COLUMNS, "id", "idx", "index", "context",
                                     "answers", "title")}
JSONL_SUFFIXES = (".jsonl", ".ndjson")
PARQUET_SUFFIXES = (".parquet", ".pq")
TABLE_SUFFIXES = {".csv", ".tsv", ".tab", ".json", ".jsonl", ".ndjson", ".parquet", ".pq", ".txt"}


def is_dataset_name(spec: str) -> bool:
    return not Path(spec.split("#")[0]).exists() and Path(spec.split("#")[0]).suffix.lower() not in TABLE_SUFFIXES


def read_table(spec: str, *, header: bool | None = None, limit: int | None = None,
               default_split: str = "train") -> pd.DataFrame:
    """Load a data file or `NAME[:CONFIG][#SPLIT]` dataset as a DataFrame."""
    path = Path(spec)
    if not path.exists():
        if is_dataset_name(spec):
            return read_hf_dataset(spec, default_split=default_split, limit=limit)
        raise BertkitError(f"{spec}: file not found")
    if path.is_dir():
        raise BertkitError(f"{spec}: is a folder; give a data file (CSV/TSV/JSON/JSONL/Parquet)")
    (df,) = read_errors(file_frames(path, header, limit, None), spec)
    df.columns = [str(c) for c in df.columns]
    return df.reset_index(drop=True)


def file_frames(path: Path, header: bool | None, limit: int | None,
                chunk_rows: int | None) -> Iterator[pd.DataFrame]:
    """The frames of a data file, at most `limit` rows: one frame (chunk_rows None), or chunks of `chunk_rows`
    rows; read errors come out as the libraries raise them (read_errors turns them into one line)."""
    suffix = path.suffix.lower()
    if suffix in PARQUET_SUFFIXES:
        frames = _parquet_frames(path, chunk_rows)
    elif suffix in JSONL_SUFFIXES:
        with open(path, encoding="utf-8") as f:
            yield from _limited(_jsonl_frames(iter_jsonl(f, str(path)), chunk_rows), limit)
        return
    elif suffix == ".json":
        df = _read_json(path)
        whole = chunk_rows is None or df.empty
        frames = iter([df]) if whole else (df.iloc[s:s + chunk_rows] for s in range(0, len(df), chunk_rows))
    else:
        frames = _delimited_frames(path, header, chunk_rows, limit)
    yield from _limited(frames, limit)


def read_errors(frames: Iterator[pd.DataFrame], spec: str) -> Iterator[pd.DataFrame]:
    """The frames, with a read error turned into one line naming the file (at least one frame, maybe empty)."""
    import pandas as pd

    any_frame = False
    while True:
        try:
            df = next(frames)
        except StopIteration:
            break
        except BertkitError:
            raise
        except UnicodeDecodeError as e:  # past the first 64 KiB of a CSV/TSV, or in JSON
            raise not_utf8(spec, e) from None
        except (ValueError, pd.errors.ParserError, OSError, csv.Error) as e:
            raise BertkitError(f"{spec}: could not read ({str(e).splitlines()[0]})") from e
        any_frame = True
        yield df
    if not any_frame:
        yield pd.DataFrame()


def _limited(frames: Iterator[pd.DataFrame], limit: int | None) -> Iterator[pd.DataFrame]:
    left = limit
    for df in frames:
        if left is not None:
            df = df.iloc[:left]
            left -= len(df)
        yield df
        if left is not None and left <= 0:
            return


def _parquet_frames(path: Path, chunk_rows: int | None) -> Iterator[pd.DataFrame]:
    if chunk_rows is None:
        import pandas as pd

        yield pd.read_parquet(path)
        return
    import pyarrow.parquet as pq

    for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows):
        yield batch.to_pandas()


def _jsonl_frames(objs: Iterator[tuple[int, dict]], chunk_rows: int | None) -> Iterator[pd.DataFrame]:
    import pandas as pd

    rows = (obj for _, obj in objs)
    while True:
        chunk = list(itertools.islice(rows, chunk_rows))
        if not chunk:
            return
        yield pd.DataFrame(chunk)


def not_utf8(source: str, e: UnicodeDecodeError) -> BertkitError:
    """The one message for undecodable input: which file, where, and what to do."""
    raw = e.object if isinstance(e.object, (bytes, bytearray)) else b""
    bad = raw[e.start:e.start + 1]
    what = "binary data, not text" if b"\x00" in raw[:4096] else "not UTF-8 text"
    return BertkitError(f"{source}: {what} (byte {bad!r} at position {e.start}); bertkit reads UTF-8: convert it, "
                        "e.g. iconv -f latin1 -t utf-8 IN > OUT")


def decoded_lines(lines: Iterable[str], source: str) -> Iterator[str]:
    """Lines of a text stream, with a decoding error turned into one line naming the source."""
    try:
        yield from lines
    except UnicodeDecodeError as e:
        raise not_utf8(source, e) from None


def read_json_file(path) -> object:
    """A whole JSON file, with one-line errors that name it."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise BertkitError(f"{path}: file not found") from None
    except UnicodeDecodeError as e:
        raise not_utf8(str(path), e) from None
    except IsADirectoryError:
        raise BertkitError(f"{path}: is a folder; give a JSON file") from None
    except OSError as e:
        raise BertkitError(f"{path}: cannot read: {e.strerror or e}") from None
    except json.JSONDecodeError as e:
        raise BertkitError(f"{path}: not valid JSON: {e}") from None
    except RecursionError:
        raise BertkitError(f"{path}: JSON nested too deeply") from None


def iter_jsonl(lines: Iterable[str], source: str, expect: str = "one JSON object") -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line; one clear error naming the source and line otherwise."""
    for n, line in enumerate(decoded_lines(lines, source), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except RecursionError:
            raise BertkitError(f"{source}:{n}: JSON nested too deeply; each line must be {expect}") from None
        except json.JSONDecodeError as e:
            raise BertkitError(f"{source}:{n}: not valid JSON ({e.msg}); each line must be {expect}") from e
        if not isinstance(obj, dict):
            raise BertkitError(f"{source}:{n}: expected {expect}")
        yield n, obj


def _read_json(path: Path) -> pd.DataFrame:
    import pandas as pd

    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except RecursionError:
        raise BertkitError(f"{path}: JSON nested too deeply") from None
    except json.JSONDecodeError as e:
        try:  # JSON Lines saved with a .json suffix
            with open(path, encoding="utf-8") as f:
                return pd.DataFrame([obj for _, obj in iter_jsonl(f, str(path))])
        except BertkitError:
            raise BertkitError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from e
    if isinstance(obj, dict) and "data" in obj and isinstance(obj["data"], list):
        obj = obj["data"]
    if not isinstance(obj, list) or not all(isinstance(x, dict) for x in obj):
        raise BertkitError(f"{path}: expected a list of objects (or {{'data': [...]}})")
    return pd.DataFrame(obj)


def _sniff_delimiter(path: Path, sample: str) -> str:
    if path.suffix.lower() in (".tsv", ".tab"):
        return "\t"
    if path.suffix.lower() == ".csv":
        return ","
    first = sample.splitlines()[0] if sample else ""
    return "\t" if first.count("\t") >= max(1, first.count(",")) else ","


def _looks_like_header(cells: list[str], second: list[str] | None) -> bool:
    names = [c.strip().lower() for c in cells]
    if any(n in KNOWN_COLUMNS for n in names):
        return True
    if second is None:
        return False

    def numeric(x: str) -> bool:
        try:
            float(x)
            return True
        except ValueError:
            return False

    # a header cell is text where the column below holds numbers
    return any(not numeric(a) and numeric(b) for a, b in zip(cells, second))


def _other_delimiter(sample: str, sep: str) -> str | None:
    """The delimiter a one-column file seems to use instead of `sep` (the same count on each of its first lines)."""
    lines = [ln for ln in sample.splitlines()[:5] if ln.strip()]
    for d in (";", "\t", "|", ","):
        if d != sep and lines and len({ln.count(d) for ln in lines}) == 1 and lines[0].count(d) > 0:
            return d
    return None


def delimited_setup(path: Path, header: bool | None) -> tuple[str, bool, str]:
    """(delimiter, header, sample) of a CSV/TSV file, read from its first 64 KiB: binary data, non-UTF-8 text and
    empty files are errors here, before pandas sees them."""
    with open(path, "rb") as f:
        raw = f.read(65536)
    if b"\x00" in raw:
        raise BertkitError(f"{path}: binary data, not text; give a UTF-8 CSV/TSV/JSONL file")
    try:
        sample = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < len(raw) - 4:  # not a character cut by the 64 KiB sample
            raise not_utf8(str(path), e) from None
        sample = raw[: e.start].decode("utf-8")
    sample = sample.replace("\r\n", "\n")
    if not sample.strip():
        raise BertkitError(f"{path}: file is empty")
    sep = _sniff_delimiter(path, sample)
    if header is None:
        try:
            lines = list(csv.reader(io.StringIO(sample, newline=""), delimiter=sep,
                                    quoting=csv.QUOTE_NONE if sep == "\t" else csv.QUOTE_MINIMAL))
        except csv.Error:
            lines = [ln.split(sep) for ln in sample.splitlines()]
        lines = [ln for ln in lines if ln] or [[""]]
        header = _looks_like_header(lines[0], lines[1] if len(lines) > 1 else None)
    return sep, header, sample


def check_one_column(path: Path, df: pd.DataFrame, sample: str, sep: str) -> None:
    """A file read as one column whose lines all hold another delimiter: say so instead of failing later."""
    other = _other_delimiter(sample, sep) if df.shape[1] == 1 else None
    if other:
        names = {";": "';'", "\t": "tabs", "|": "'|'", ",": "','"}
        raise BertkitError(f"{path}: one column only, but its lines look delimited by {names[other]}, not "
                           f"{names[sep]}; bertkit reads .csv as comma-separated and .tsv as tab-separated: "
                           f"convert the file or give it the matching suffix")


def csv_args(sep: str, header: bool, limit: int | None = None) -> dict:
    """pandas.read_csv's settings for every delimited table: text cells as they are (no NA guessing), tabs unquoted."""
    quoting = csv.QUOTE_NONE if sep == "\t" else csv.QUOTE_MINIMAL
    return dict(sep=sep, header=0 if header else None, quoting=quoting, dtype=str, keep_default_na=False,
                na_values=[], encoding="utf-8", nrows=limit)


def stream_records(lines: Iterable[str], source: str, chunk_rows: int = 4096) -> Iterator[dict]:
    """The rows of a CSV with a header read from decoded `lines` (stdin), as dicts, chunk by chunk: output can start
    before the input ends; the same cell rules as files (csv_args), read errors as one line."""
    import pandas as pd

    def frames() -> Iterator[pd.DataFrame]:
        with pd.read_csv(_LinesFile(lines), chunksize=chunk_rows, **csv_args(",", True)) as reader:
            yield from reader

    for df in read_errors(frames(), source):
        yield from df.to_dict("records")


class _LinesFile:
    """A read()-able view of text lines without their line ends (what pandas needs of a file)."""

    def __init__(self, lines: Iterable[str]) -> None:
        self._lines, self._buf = iter(lines), ""

    def read(self, n: int = -1) -> str:
        parts, size = [self._buf], len(self._buf)
        while n < 0 or size < n:
            line = next(self._lines, None)
            if line is None:
                break
            parts.append(line + "\n")
            size += len(line) + 1
        text = "".join(parts)
        out, self._buf = (text, "") if n < 0 else (text[:n], text[n:])
        return out

    def __iter__(self) -> Iterator[str]:
        return iter(self.read().splitlines(keepends=True))


def _delimited_frames(path: Path, header: bool | None, chunk_rows: int | None,
                      limit: int | None) -> Iterator[pd.DataFrame]:
    import pandas as pd

    sep, header, sample = delimited_setup(path, header)  # binary, UTF-8, empty, delimiter and header
    args = csv_args(sep, header, limit)
    if chunk_rows is None:
        frames = iter([pd.read_csv(path, **args)])
    else:
        frames = pd.read_csv(path, chunksize=chunk_rows, **args)
    try:
        for k, df in enumerate(frames):
            if not header:
                df.columns = [f"col{i}" for i in range(df.shape[1])]
            if k == 0:
                check_one_column(path, df, sample, sep)
            yield df
    finally:
        if chunk_rows is not None:
            frames.close()


def parse_dataset_spec(spec: str, default_split: str) -> tuple[str, str | None, str]:
    name, _, split = spec.partition("#")
    name, _, config = name.partition(":")
    return name, (config or None), (split or default_split)


def read_hf_dataset(spec: str, default_split: str = "train", limit: int | None = None) -> pd.DataFrame:
    name, config, split = parse_dataset_spec(spec, default_split)
    try:
        import datasets

        ds = datasets.load_dataset(name, config, split=split)
    except Exception as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise BertkitError(
            f"{spec}: not a file, and loading it as a Hugging Face dataset failed ({msg}). "
            "Give a local CSV/TSV/JSON/JSONL/Parquet file, or check the name and your connection"
        ) from e
    if limit is not None:
        ds = ds.select(range(min(limit, len(ds))))
    df = ds.to_pandas()
    # the names of ClassLabel columns (and of lists of them, such as ner_tags), so that ids can become labels
    for col, feat in ds.features.items():
        names = getattr(feat, "names", None) or getattr(getattr(feat, "feature", None), "names", None)
        if names:
            df.attrs.setdefault("label_names", {})[col] = list(names)
    return df
