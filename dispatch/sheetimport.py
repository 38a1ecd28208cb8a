"""Records from a spreadsheet (XLSX or CSV in UTF-8, UTF-8 with BOM, or GBK), all or nothing: the machinery every
import shares (members, the think tank's experts).

An import names its columns (``Columns``: canonical field → Chinese header, English header, other spellings) and
turns one row's cells into one record (``row_fn``). ``run`` reads the file within bounds, finds the header, reports
missing columns, then calls ``row_fn`` for every filled row inside one transaction, each row in a savepoint, and
collects every problem of every row (``Result.errors``, with the spreadsheet's own row numbers: header = 1). The
transaction commits only when no row has an error and this is not a dry run.
"""

from __future__ import annotations

import csv
import io
import math
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, col, select

from dispatch.errors import AppError
from dispatch.regions.models import Region
from dispatch.validation import forbidden_in_line

# what reading a file may cost, whatever it declares (docs: a 297 KB XLSX of 1,000,000 rows)
MAX_SHEET_ROWS = 50_000  # rows read from a sheet or CSV, blank ones included
MAX_COLUMNS = 64  # cells kept per row
MAX_UNZIPPED_BYTES = 16 * 2**20  # an XLSX's entries uncompressed, in all (5,000 filled rows: 3-5 MB)
MAX_SHARED_STRINGS_BYTES = 8 * 2**20  # openpyxl holds the shared strings in memory
MAX_ENTRIES = 1000  # files in the archive (an XLSX has about ten)
MAX_RATIO = 200  # uncompressed ÷ compressed for an entry above RATIO_FLOOR_BYTES (sheets: 10-50; bombs: ~1000)
RATIO_FLOOR_BYTES = 2**20

TRUE = {"是", "在岗", "在库", "启用", "y", "yes", "true", "1", "√", "t"}
FALSE = {"否", "不在岗", "离岗", "停用", "n", "no", "false", "0", "×", "f"}
LIST_SPLIT = re.compile(r"[、,，;；|｜/\n]+")
TOWN_SUFFIXES = ("街道办事处", "街道", "镇")
VILLAGE_SUFFIXES = ("社区居委会", "居民委员会", "村民委员会", "居委会", "村委会", "社区", "村")


# --------------------------------------------------------------------------- headers


def _norm_header(h: Any) -> str:
    s = str(h or "").strip().lower().replace("\ufeff", "")
    s = re.sub(r"[\s*＊:：]+", "", s)
    return s


class Columns:
    """The columns of one kind of sheet: canonical field → (Chinese header, English header, other spellings)."""

    def __init__(self, columns: dict[str, tuple[str, str, tuple[str, ...]]], required: tuple[str, ...]) -> None:
        self.columns, self.required = columns, required
        self.zh = {k: v[0] for k, v in columns.items()}
        self.aliases: dict[str, str] = {}
        for key, (zh, en, more) in columns.items():
            for alias in (zh, en, key, *more):
                self.aliases[_norm_header(alias)] = key

    def field(self, h: Any) -> str | None:
        """The canonical field of a header: "姓名", "Name", "姓名 / name", "容量（件）" all work."""
        s = _norm_header(h)
        if not s:
            return None
        if s in self.aliases:
            return self.aliases[s]
        bare = re.sub(r"[（(][^）)]*[）)]", "", s)
        if bare in self.aliases:
            return self.aliases[bare]
        for part in re.split(r"[/|｜]", s):
            if part in self.aliases:
                return self.aliases[part]
        return None


# --------------------------------------------------------------------------- reading files


class FileError(AppError):
    status = 422


class FileTooLarge(AppError):
    """Refused before (or while) reading it: more than the import may hold. 413."""

    status = 413


@dataclass(frozen=True)
class Limit:
    """How many filled rows one import takes, and what they are called in its messages."""

    max_rows: int
    noun_zh: str  # 名委员, 名专家
    noun_en: str  # members, experts

    def too_many(self, **details: Any) -> FileTooLarge:
        return FileTooLarge(
            "too_many_rows",
            f"一次最多导入 {self.max_rows} {self.noun_zh}",
            f"At most {self.max_rows} {self.noun_en} per import",
            max_rows=self.max_rows,
            **details,
        )


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))  # Excel keeps phone numbers and codes as floats
    return str(v).strip()


def read_table(data: bytes, filename: str, limit: Limit) -> list[list[str]]:
    """The first sheet (XLSX) or the whole file (CSV) as rows of strings; the header is row 0.

    Reading stops at the limit: the header and ``limit.max_rows`` filled rows, ``MAX_SHEET_ROWS`` rows in all
    (blank ones included) → 413 ``too_many_rows`` with ``rows_read``, the rows read when it stopped. An XLSX is
    checked before it is opened (``check_archive``) and by its declared dimension before its rows are read."""
    name = filename.lower()
    if data[:4] == b"PK\x03\x04" or name.endswith((".xlsx", ".xlsm")):
        return _bounded(_xlsx_rows(data, limit), limit)
    if data[:4] == b"\xd0\xcf\x11\xe0" or name.endswith(".xls"):
        raise FileError(
            "unsupported_file",
            "不支持旧版 .xls 文件，请另存为 .xlsx 或 CSV",
            "Old .xls files are not supported; save as .xlsx or CSV",
        )
    return _bounded(_csv_rows(data), limit)


def _bounded(rows: Iterator[list[str]], limit: Limit) -> list[list[str]]:
    out: list[list[str]] = []
    filled = 0
    try:
        for row in rows:
            if any(row):
                filled += 1
            if filled > limit.max_rows + 1 or len(out) >= MAX_SHEET_ROWS:  # this row is one too many
                raise limit.too_many(rows_read=len(out) + 1)
            out.append(row)
    finally:
        close = getattr(rows, "close", None)
        if close is not None:
            close()  # a generator: closes its workbook now, not when collected
    return out


def _invalid_file() -> FileError:
    return FileError("invalid_file", "无法读取该 Excel 文件", "Cannot read this Excel file")


def check_archive(data: bytes) -> None:
    """Refuse a zip bomb before openpyxl opens it: the entries' declared sizes (which ``zipfile`` holds every
    read to) in all, of the shared strings (held in memory whole), and each large entry's compression ratio."""
    try:
        entries = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise _invalid_file() from exc
    total = sum(e.file_size for e in entries)
    shared = sum(e.file_size for e in entries if e.filename.lower().endswith("sharedstrings.xml"))
    if len(entries) > MAX_ENTRIES or total > MAX_UNZIPPED_BYTES or shared > MAX_SHARED_STRINGS_BYTES:
        raise FileTooLarge(
            "xlsx_too_large",
            f"Excel 文件解压后过大（上限 {MAX_UNZIPPED_BYTES // 2**20} MB）",
            f"The Excel file is too large once unzipped (at most {MAX_UNZIPPED_BYTES // 2**20} MB)",
            unzipped_bytes=total,
            max_unzipped_bytes=MAX_UNZIPPED_BYTES,
            shared_strings_bytes=shared,
            max_shared_strings_bytes=MAX_SHARED_STRINGS_BYTES,
            entries=len(entries),
            max_entries=MAX_ENTRIES,
        )
    for e in entries:
        ratio = e.file_size / max(e.compress_size, 1)
        if e.file_size > RATIO_FLOOR_BYTES and ratio > MAX_RATIO:
            raise FileTooLarge(
                "xlsx_ratio_too_high",
                "Excel 文件压缩比异常，疑为压缩炸弹",
                "The Excel file's compression ratio is suspicious (a zip bomb?)",
                entry=e.filename[:200],
                ratio=round(ratio),
                max_ratio=MAX_RATIO,
            )


def _xlsx_rows(data: bytes, limit: Limit) -> Iterator[list[str]]:
    from openpyxl import load_workbook

    check_archive(data)
    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True, keep_links=False)
    except Exception as exc:  # noqa: BLE001 - any parse failure is the caller's file
        raise _invalid_file() from exc
    try:
        if not wb.worksheets:
            raise _invalid_file()
        ws = wb.worksheets[0]
        if ws.max_row is not None and ws.max_row > MAX_SHEET_ROWS:  # the declared dimension (A1:L1000000)
            raise limit.too_many(declared_rows=ws.max_row, rows_read=0)
        ws.reset_dimensions()  # read the rows there are, not as many as declared: the counter bounds them
        rows = ws.iter_rows(values_only=True)
        while True:
            try:
                row = next(rows)
            except StopIteration:
                return
            except Exception as exc:  # noqa: BLE001 - broken XML inside the archive
                raise _invalid_file() from exc
            yield [_cell(v) for v in row[:MAX_COLUMNS]]
    finally:
        wb.close()


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM), else GB18030 (a superset of GBK, what Chinese Excel writes)."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise FileError(
        "invalid_encoding", "无法识别文件编码，请使用 UTF-8 或 GBK", "Unknown text encoding; use UTF-8 or GBK"
    )


def _csv_rows(data: bytes) -> Iterator[list[str]]:
    text = decode_text(data)
    first = text.split("\n", 1)[0]
    delimiter = max((",", "\t", ";"), key=first.count) if first else ","
    try:
        for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
            yield [c.strip() for c in row[:MAX_COLUMNS]]
    except csv.Error as exc:  # e.g. a field beyond csv's size limit
        raise FileError("invalid_file", "无法读取该 CSV 文件", "Cannot read this CSV file") from exc


# --------------------------------------------------------------------------- regions by name or code


def _stem(name: str, suffixes: tuple[str, ...]) -> str:
    name = name.strip()
    for suffix in suffixes:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


class Regions:
    """Towns and villages by code, full name or name without its suffix (潘黄 = 潘黄街道, 东徐社区 = 东徐居委会)."""

    def __init__(self, session: Session) -> None:
        rows = session.exec(select(Region).where(col(Region.level).in_(("town", "village")))).all()
        self.by_code = {r.code: r for r in rows}
        self.towns: dict[str, list[Region]] = {}
        self.villages: dict[str, list[Region]] = {}
        for r in rows:
            index, suffixes = (self.towns, TOWN_SUFFIXES) if r.level == "town" else (self.villages, VILLAGE_SUFFIXES)
            for key in {r.name, _stem(r.name, suffixes)}:
                index.setdefault(key, []).append(r)

    def town(self, value: str) -> list[Region]:
        r = self.by_code.get(value)
        if r is not None:
            return [r] if r.level == "town" else []
        return self.towns.get(value) or self.towns.get(_stem(value, TOWN_SUFFIXES), [])

    def village(self, value: str, town_code: str | None) -> list[Region]:
        r = self.by_code.get(value)
        if r is not None:
            found = [r] if r.level == "village" else []
        else:
            found = self.villages.get(value) or self.villages.get(_stem(value, VILLAGE_SUFFIXES), [])
        if town_code:
            found = [v for v in found if v.parent_code == town_code]
        return found


# --------------------------------------------------------------------------- rows → records


@dataclass
class Result:
    created: int = 0
    rows: int = 0
    errors: list[dict] = field(default_factory=list)

    def error(self, row: int, fld: str | None, code: str, zh: str, en: str) -> None:
        self.errors.append(
            {"row": row, "field": fld, "code": code, "message": f"{zh} / {en}", "message_zh": zh, "message_en": en}
        )

    def app_error(self, row: int, fld: str | None, exc: AppError) -> None:
        """A rule of the record's service refused the row: its code and message, on this row."""
        self.error(row, fld, exc.code, exc.zh, exc.en)


def as_bool(value: str, true: set[str] = TRUE, false: set[str] = FALSE) -> bool | None:
    """Yes/no in a cell (是/否, 在岗, yes, 1, √ …); None when it is neither. An import may name its own words."""
    v = value.strip().lower()
    return True if v in true else False if v in false else None


def as_number(value: str) -> float | None:
    try:
        n = float(value.replace("，", "").replace(",", ""))
    except ValueError:
        return None
    return n if math.isfinite(n) else None


def split_list(value: str) -> list[str]:
    """A cell holding several values: separated by 、 , ; | / or a line break."""
    return [c.strip() for c in LIST_SPLIT.split(value) if c.strip()]


def check_characters(
    values: dict[str, str], row: int, result: Result, columns: Columns, multiline: tuple[str, ...] = ()
) -> set[str]:
    """Control characters and bidirectional overrides are refused in every cell (``validation.forbidden_in_line``);
    a line break only in the ``multiline`` columns (lists). Returns the fields refused."""
    bad: set[str] = set()
    for key, value in values.items():
        text = value.replace("\r", "").replace("\n", "") if key in multiline else value
        if forbidden_in_line(text) is not None:
            zh = columns.zh.get(key, key)
            result.error(row, key, "invalid_characters", f"{zh}含有控制字符", f"{key} contains control characters")
            bad.add(key)
    return bad


RowFn = Callable[[Session, dict[str, str], int, Result], None]


def run(
    session: Session,
    data: bytes,
    filename: str,
    columns: Columns,
    limit: Limit,
    row_fn: RowFn,
    *,
    dry_run: bool = False,
) -> Result:
    """Import; ``row_fn(session, values, row_no, result)`` records one row's problems in ``result`` or creates it
    (counting ``result.created``). The caller's session is committed only on success without ``dry_run``, else
    rolled back; with any error ``created`` is 0."""
    result = Result()
    rows = read_table(data, filename, limit)
    header_at = next((i for i, r in enumerate(rows) if any(c for c in r)), None)
    if header_at is None:
        result.error(1, None, "empty_file", "文件为空", "The file is empty")
        return result
    found: dict[int, str] = {}
    for i, h in enumerate(rows[header_at]):
        key = columns.field(h)
        if key and key not in found.values():
            found[i] = key
    for key in columns.required:
        if key not in found.values():
            zh, en, _ = columns.columns[key]
            result.error(header_at + 1, key, "missing_column", f"缺少“{zh}”列", f'Missing column "{en}"')
    if result.errors:
        _locate(result, columns, found, rows[header_at])
        return result
    # at most limit.max_rows: read_table stops (413 too_many_rows) past the header and that many filled rows
    body_rows = [(header_at + 2 + n, r) for n, r in enumerate(rows[header_at + 1 :]) if any(c for c in r)]
    try:
        for row_no, cells in body_rows:
            result.rows += 1
            values = {key: cells[i].strip() if i < len(cells) else "" for i, key in found.items()}
            row_fn(session, values, row_no, result)
        if result.errors or dry_run:
            session.rollback()
        else:
            session.commit()
    except BaseException:
        session.rollback()
        raise
    if result.errors:
        result.created = 0
    _locate(result, columns, found, rows[header_at])
    return result


def _column_letter(index: int) -> str:
    out = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        out = chr(65 + rem) + out
    return out


def _locate(result: Result, columns: Columns, found: dict[int, str], header: list[str]) -> None:
    """Each error's ``column``: the letter of its field's column in the file (None when the file has none) and
    ``header``: that column's header as written (else the template's Chinese header). Sorted by row, then in the
    order of the file's columns."""
    where = {key: i for i, key in found.items()}
    result.errors.sort(key=lambda e: (e["row"], where.get(e["field"], len(header))))
    for err in result.errors:
        i = where.get(err["field"])
        err["column"] = _column_letter(i) if i is not None else None
        err["header"] = header[i] if i is not None else columns.zh.get(err["field"]) if err["field"] else None
