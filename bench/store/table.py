"""A CSV results file: one run (or one measurement) per line, written whole or not at all, read by a
reader that skips what it cannot trust.

Writing (``append_rows``): the rows go to the file in one write, under an exclusive ``flock``, then
fsync. A line never holds a line break of its own (values are flattened to one line), so "one line =
one row" holds and a reader can judge every line alone. Before appending, a last line without its
line end (a writer killed mid-write) is cut off. If the write fails (disk full, I/O error), the file
is cut back to its size before the write and ``StoreError`` says so in one line.

Reading (``read_rows``, ``read_frame``): every line is parsed on its own; a line that is not UTF-8,
is longer than ``MAX_LINE_BYTES``, has an unbalanced quote, has another number of fields than the
header, or is the unterminated last line of a file being written (or cut by a crash) is skipped, and
one warning per file names the file and the lines. Such a line is never a row.
"""

from __future__ import annotations

import csv
import fcntl
import io
import os
import signal
import sys
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

MAX_LINE_BYTES = 1 << 20  # 1 MiB: a row of ours is a few kB; a longer line is not one of ours
TAIL_BLOCK = 1 << 16  # bytes read at a time when looking back for the last line end
SHOWN_BAD_LINES = 5  # bad lines named in a warning (the count says how many more)

STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}  # held back while a row is written

Warn = Callable[[str], None]


class StoreError(Exception):
    """A results file could not be written; the message is one line for the user."""


def warn_on_stderr(message: str) -> None:
    print(f"bench: warning: {message}", file=sys.stderr)


# --- writing ---------------------------------------------------------------------------------------
def _cell(value: Any) -> Any:
    """A value as it goes into a cell: None empty, text on one line (a row is one line)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")
    return value


def format_rows(columns: list[str], rows: Iterable[dict[str, Any]], header: bool = False) -> bytes:
    """CSV text of ``rows`` (and the header line first if ``header``), one line each, as UTF-8."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    if header:
        writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return text.getvalue().encode("utf-8")


def write_bytes(fd: int, data: bytes) -> None:
    """All of ``data`` to ``fd`` (os.write may write less than asked)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def last_row_end(fd: int, size: int) -> int:
    """Offset just after the last line end in the first ``size`` bytes of ``fd`` (0 if none)."""
    end = size
    while end > 0:
        start = max(0, end - TAIL_BLOCK)
        block = os.pread(fd, end - start, start)
        cut = block.rfind(b"\n")
        if cut >= 0:
            return start + cut + 1
        end = start
    return 0


def append_rows(path: str | Path, columns: Iterable[str], rows: list[dict[str, Any]]) -> None:
    """Append ``rows`` to the CSV at ``path`` whole (the header first if the file is new or empty);
    on failure the file is as before and ``StoreError`` is raised."""
    if not rows:
        return
    columns = list(columns)
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)  # read: to find the last line end
    except OSError as err:
        raise StoreError(f"cannot write {path}: {err.strerror or err}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # other processes append to the same file (epochs.csv, profile.csv)
        size = os.fstat(fd).st_size  # the size now, under the lock
        whole = last_row_end(fd, size) if size else 0
        if whole != size:  # an unterminated last line: a writer died mid-row
            os.ftruncate(fd, whole)
        data = format_rows(columns, rows, header=whole == 0)
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)  # Ctrl-C / SIGTERM wait for the row
        try:
            write_bytes(fd, data)
            os.fsync(fd)
        except OSError as err:
            try:
                os.ftruncate(fd, whole)  # back to the last whole row
                os.fsync(fd)
            except OSError:
                pass  # the readers skip the partial row; the next writer cuts it off
            raise StoreError(f"could not write to {path}: {err.strerror or err}; "
                             f"the file is cut back to its last whole row") from None
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    finally:
        os.close(fd)  # closing releases the lock


def header_of(path: Path) -> list[str] | None:
    """The header of a CSV file, or None if it has none (missing, empty, unreadable first line)."""
    try:
        with path.open("rb") as f:
            first = f.readline(MAX_LINE_BYTES + 1)
    except OSError:
        return None
    fields = _parse_line(first)
    return fields if isinstance(fields, list) and fields else None


def rewrite_with_columns(path: Path, columns: list[str]) -> None:
    """Rewrite a CSV whose header lacks some of ``columns`` (an older harness) so that it has them:
    its rows get empty cells in the new columns, lines that do not parse are kept as they are, and the
    file is replaced whole (a temporary file renamed over it). Call it while holding the folder lock."""
    old = header_of(path) or []
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with path.open("rb") as src, tmp.open("wb") as dst:
        dst.write(format_rows(columns, [], header=True))
        src.readline(MAX_LINE_BYTES + 1)
        for _, raw, fields in _lines(src, len(old)):
            if isinstance(fields, list):
                dst.write(format_rows(columns, [dict(zip(old, fields))]))
            elif raw is not None and raw.endswith(b"\n"):
                dst.write(raw)  # a bad line stays as it was (the readers skip it)
        dst.flush()
        os.fsync(dst.fileno())
    os.replace(tmp, path)


# --- reading ---------------------------------------------------------------------------------------
def _parse_line(raw: bytes) -> list[str] | str:
    """The fields of one complete line, or why it is not a row."""
    if not raw.endswith(b"\n"):
        return "unterminated last line (a row being written, or cut by a crash)"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "not UTF-8"
    text = text.rstrip("\r\n")
    if not text.strip():
        return "empty line"
    try:
        return next(csv.reader([text], strict=True))
    except csv.Error as err:
        return f"malformed CSV ({err})"


def _lines(f, width: int) -> Iterator[tuple[int, bytes | None, list[str] | str]]:
    """(line number, raw bytes or None if over-long, fields or the reason the line is no row) for
    every line after the current position (line numbers from 2: the header is line 1)."""
    number = 1
    while True:
        raw = f.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        number += 1
        if len(raw) > MAX_LINE_BYTES:
            while raw and not raw.endswith(b"\n"):  # skip the rest of it without holding it
                raw = f.readline(MAX_LINE_BYTES + 1)
            yield number, None, f"longer than {MAX_LINE_BYTES} bytes"
            continue
        fields = _parse_line(raw)
        if isinstance(fields, list) and len(fields) != width:
            fields = f"{len(fields)} fields where the header has {width}"
        yield number, raw, fields


def read_rows(path: str | Path, warn: Warn = warn_on_stderr) -> list[dict[str, str]]:
    """The rows of the CSV at ``path`` as dicts of strings (header -> cell), skipping every line that
    is not a whole row, with one warning naming the file and those lines. A missing, empty or
    header-only file has no rows."""
    return [row for _, row in read_numbered_rows(path, warn)]


def read_numbered_rows(path: str | Path, warn: Warn = warn_on_stderr) -> list[tuple[int, dict[str, str]]]:
    """As ``read_rows``, each row with its line number in the file (the header is line 1)."""
    return [(number, dict(zip(header, fields))) for number, header, fields in _good_lines(Path(path), warn)]


def remove_lines(path: str | Path, numbers: set[int]) -> None:
    """Rewrite the CSV at ``path`` without the lines ``numbers`` (line numbers as ``read_numbered_rows``
    gives them), every other line kept byte for byte; the file is replaced whole (a temporary file
    renamed over it). Call it while holding the folder lock."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with path.open("rb") as src, tmp.open("wb") as dst:
        dst.write(src.readline(MAX_LINE_BYTES + 1))
        number = 1
        while raw := src.readline(MAX_LINE_BYTES + 1):
            number += 1  # counted as _lines counts: an over-long line is one line, read in pieces
            keep = number not in numbers
            if keep:
                dst.write(raw)
            while len(raw) > MAX_LINE_BYTES and raw and not raw.endswith(b"\n"):
                raw = src.readline(MAX_LINE_BYTES + 1)
                if keep:
                    dst.write(raw)
        dst.flush()
        os.fsync(dst.fileno())
    os.replace(tmp, path)


def _good_lines(path: Path, warn: Warn) -> Iterator[tuple[int, list[str], list[str]]]:
    try:
        f = path.open("rb")
    except FileNotFoundError:
        return
    except OSError as err:
        warn(f"{path}: cannot read it ({err.strerror or err}); no rows taken from it")
        return
    with f:
        first = f.readline(MAX_LINE_BYTES + 1)
        if not first:
            return
        header = _parse_line(first)
        if not isinstance(header, list):
            warn(f"{path}: line 1 is no header ({header}); no rows taken from it")
            return
        bad = []
        for number, _, fields in _lines(f, len(header)):
            if isinstance(fields, list):
                yield number, header, fields
            else:
                bad.append(f"line {number} ({fields})")
    if bad:
        more = f" and {len(bad) - SHOWN_BAD_LINES} more" if len(bad) > SHOWN_BAD_LINES else ""
        warn(f"{path}: skipped {len(bad)} line(s) that are not whole rows: "
             f"{'; '.join(bad[:SHOWN_BAD_LINES])}{more}")


def read_frame(path: str | Path, warn: Warn = warn_on_stderr, columns: Iterable[str] = ()):
    """The rows of the CSV at ``path`` as a pandas DataFrame (types inferred as ``pandas.read_csv``
    does), skipping bad lines as ``read_rows``. A missing, empty or header-only file gives an empty
    frame with the file's header, else ``columns``."""
    import pandas as pd

    path = Path(path)
    header, lines = None, []
    for _, header, fields in _good_lines(path, warn):
        lines.append(fields)
    if not lines:
        return pd.DataFrame(columns=header_of(path) or list(columns))
    return frame_of([dict(zip(header, fields)) for fields in lines], header)


def frame_of(rows: list[dict[str, str]], columns: Iterable[str] = ()):
    """Rows of strings as a pandas DataFrame, types inferred as ``pandas.read_csv`` does; the columns
    are ``columns`` that some row has, then any other column of the rows (all of ``columns`` if there
    is no row)."""
    import pandas as pd

    columns = list(columns)
    if not rows:
        return pd.DataFrame(columns=columns)
    present = set().union(*rows)
    header = [c for c in columns if c in present] + sorted(present - set(columns))
    text = io.StringIO()
    writer = csv.DictWriter(text, header, lineterminator="\n", restval="")
    writer.writeheader()
    writer.writerows(rows)
    text.seek(0)
    return pd.read_csv(text)
