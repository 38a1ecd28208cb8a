"""Members from a spreadsheet (XLSX or CSV in UTF-8, UTF-8 with BOM, or GBK), all or nothing.

Columns are found by their Chinese or English header. Every row goes through ``members.service.create`` (the
same rules as ``POST /api/members``) inside one transaction, each row in a savepoint; the transaction commits
only when no row has an error and this is not a dry run. Row numbers are the spreadsheet's own (header = 1).
"""

from __future__ import annotations

import csv
import io
import math
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlmodel import Session, col, select

from dispatch.cases.service import validate_category
from dispatch.errors import AppError
from dispatch.members import service
from dispatch.members.models import MemberIn
from dispatch.regions.models import Region
from dispatch.regions.service import validate_location
from dispatch.validation import PHONE_RULE_EN, PHONE_RULE_ZH, forbidden_in_line

MAX_ROWS = 5000  # members per import
# what reading a file may cost, whatever it declares (docs: a 297 KB XLSX of 1,000,000 rows)
MAX_SHEET_ROWS = 50_000  # rows read from a sheet or CSV, blank ones included
MAX_COLUMNS = 64  # cells kept per row (the columns are 12)
MAX_UNZIPPED_BYTES = 16 * 2**20  # an XLSX's entries uncompressed, in all (5,000 filled rows: 3-5 MB)
MAX_SHARED_STRINGS_BYTES = 8 * 2**20  # openpyxl holds the shared strings in memory
MAX_ENTRIES = 1000  # files in the archive (an XLSX has about ten)
MAX_RATIO = 200  # uncompressed ÷ compressed for an entry above RATIO_FLOOR_BYTES (sheets: 10-50; bombs: ~1000)
RATIO_FLOOR_BYTES = 2**20

# canonical field → (Chinese header, English header, other accepted spellings)
COLUMNS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "name": ("姓名", "name", ("委员姓名", "名字")),
    "phone": ("电话", "phone", ("手机", "手机号", "手机号码", "联系电话", "电话号码", "mobile", "tel")),
    "level": ("层级", "level", ("级别", "委员层级")),
    "sector": ("界别", "sector", ()),
    "town": ("镇街", "town", ("镇/街道", "镇街道", "镇（街道）", "所属镇街", "镇", "街道", "town_code")),
    "village": ("村社区", "village", ("村/社区", "村（社区）", "村居", "村", "社区", "village_code")),
    "categories": ("擅长类别", "categories", ("类别", "擅长领域", "category")),
    "capacity": ("容量", "capacity", ("最大承接量", "承接上限")),
    "on_duty": ("在岗", "on_duty", ("是否在岗", "在岗状态", "onduty", "on duty")),
    "lat": ("纬度", "lat", ("latitude",)),
    "lon": ("经度", "lon", ("lng", "longitude")),
    "coord_system": ("坐标系", "coord_system", ("坐标系统", "coordsystem", "crs")),
}
REQUIRED = ("name", "level")
FIELD_ZH = {k: v[0] for k, v in COLUMNS.items()}

LEVELS = {
    "区": "district", "区级": "district", "区政协": "district", "district": "district",
    "镇": "town", "镇级": "town", "镇街": "town", "街道": "town", "镇/街道": "town", "town": "town",
    "村": "village", "村级": "village", "社区": "village", "村/社区": "village", "村社区": "village",
    "village": "village",
}  # fmt: skip
TRUE = {"是", "在岗", "y", "yes", "true", "1", "√", "t"}
FALSE = {"否", "不在岗", "离岗", "n", "no", "false", "0", "×", "f"}
COORDS = {
    "wgs84": "wgs84",
    "gps": "wgs84",
    "gcj02": "gcj02",
    "高德": "gcj02",
    "腾讯": "gcj02",
    "bd09": "bd09",
    "百度": "bd09",
}
CATEGORY_SPLIT = re.compile(r"[、,，;；|｜/\n]+")
TOWN_SUFFIXES = ("街道办事处", "街道", "镇")
VILLAGE_SUFFIXES = ("社区居委会", "居民委员会", "村民委员会", "居委会", "村委会", "社区", "村")


def _norm_header(h: Any) -> str:
    s = str(h or "").strip().lower().replace("\ufeff", "")
    s = re.sub(r"[\s*＊:：]+", "", s)
    return s


def _alias_map() -> dict[str, str]:
    out: dict[str, str] = {}
    for key, (zh, en, more) in COLUMNS.items():
        for alias in (zh, en, key, *more):
            out[_norm_header(alias)] = key
    return out


ALIASES = _alias_map()


def header_field(h: Any) -> str | None:
    """The canonical field of a header: "姓名", "Name", "姓名 / name", "容量（件）" all work."""
    s = _norm_header(h)
    if not s:
        return None
    if s in ALIASES:
        return ALIASES[s]
    bare = re.sub(r"[（(][^）)]*[）)]", "", s)
    if bare in ALIASES:
        return ALIASES[bare]
    for part in re.split(r"[/|｜]", s):
        if part in ALIASES:
            return ALIASES[part]
    return None


# --------------------------------------------------------------------------- reading files


class FileError(AppError):
    status = 422


class FileTooLarge(AppError):
    """Refused before (or while) reading it: more than the import may hold. 413."""

    status = 413


def _too_many_rows(**details: Any) -> FileTooLarge:
    return FileTooLarge(
        "too_many_rows",
        f"一次最多导入 {MAX_ROWS} 名委员",
        f"At most {MAX_ROWS} members per import",
        max_rows=MAX_ROWS,
        **details,
    )


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))  # Excel keeps phone numbers and codes as floats
    return str(v).strip()


def read_table(data: bytes, filename: str = "") -> list[list[str]]:
    """The first sheet (XLSX) or the whole file (CSV) as rows of strings; the header is row 0.

    Reading stops at the limit: the header and ``MAX_ROWS`` filled rows, ``MAX_SHEET_ROWS`` rows in all (blank
    ones included) → 413 ``too_many_rows`` with ``rows_read``, the rows read when it stopped. An XLSX is checked
    before it is opened (``check_archive``) and by its declared dimension before its rows are read."""
    name = filename.lower()
    if data[:4] == b"PK\x03\x04" or name.endswith((".xlsx", ".xlsm")):
        return _bounded(_xlsx_rows(data))
    if data[:4] == b"\xd0\xcf\x11\xe0" or name.endswith(".xls"):
        raise FileError(
            "unsupported_file",
            "不支持旧版 .xls 文件，请另存为 .xlsx 或 CSV",
            "Old .xls files are not supported; save as .xlsx or CSV",
        )
    return _bounded(_csv_rows(data))


def _bounded(rows: Iterator[list[str]]) -> list[list[str]]:
    out: list[list[str]] = []
    filled = 0
    try:
        for row in rows:
            if any(row):
                filled += 1
            if filled > MAX_ROWS + 1 or len(out) >= MAX_SHEET_ROWS:  # this row is one too many
                raise _too_many_rows(rows_read=len(out) + 1)
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


def _xlsx_rows(data: bytes) -> Iterator[list[str]]:
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
            raise _too_many_rows(declared_rows=ws.max_row, rows_read=0)
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


# --------------------------------------------------------------------------- rows → members


@dataclass
class Result:
    created: int = 0
    rows: int = 0
    errors: list[dict] = field(default_factory=list)

    def error(self, row: int, fld: str | None, code: str, zh: str, en: str) -> None:
        self.errors.append(
            {"row": row, "field": fld, "code": code, "message": f"{zh} / {en}", "message_zh": zh, "message_en": en}
        )


def _bool(value: str) -> bool | None:
    v = value.strip().lower()
    return True if v in TRUE else False if v in FALSE else None


def _number(value: str) -> float | None:
    try:
        n = float(value.replace("，", "").replace(",", ""))
    except ValueError:
        return None
    return n if math.isfinite(n) else None


MULTILINE = ("categories",)  # a line break separates categories; every other cell is one line
FIELD_EN = {
    "name": "Name", "phone": "Phone", "level": "Level", "sector": "Sector", "town": "Town", "village": "Village",
    "categories": "Categories", "capacity": "Capacity", "on_duty": "On duty", "lat": "Latitude",
    "lon": "Longitude", "coord_system": "Coordinate system",
}  # fmt: skip
_MODEL_FIELD = {"town_code": "town", "village_code": "village"}


def _check_characters(values: dict[str, str], row: int, result: Result) -> set[str]:
    """Control characters and bidirectional overrides are refused in every cell (``validation.forbidden_in_line``).
    Returns the fields refused."""
    bad: set[str] = set()
    for key, value in values.items():
        text = value.replace("\r", "").replace("\n", "") if key in MULTILINE else value
        if forbidden_in_line(text) is not None:
            zh = FIELD_ZH.get(key, key)
            result.error(row, key, "invalid_characters", f"{zh}含有控制字符", f"{key} contains control characters")
            bad.add(key)
    return bad


def _bounds(name: str) -> tuple[Any, Any]:
    """The ``ge``/``le`` bounds of a ``MemberIn`` field (one source: the model the API validates with)."""
    lo = hi = None
    for m in MemberIn.model_fields[name].metadata:
        lo = getattr(m, "ge", lo)
        hi = getattr(m, "le", hi)
    return lo, hi


def _model_errors(body: dict, skip: set[str], row: int, result: Result) -> set[str]:
    """Every refusal of ``MemberIn`` (the API's own model) for the row, except in fields reported already."""
    try:
        MemberIn(**body)
    except ValidationError as exc:
        errors = exc.errors()
    else:
        return set()
    bad: set[str] = set()
    for err in errors:
        loc = str(err["loc"][0]) if err.get("loc") else None
        fld = _MODEL_FIELD.get(loc, loc)
        if fld in skip or fld in bad:
            continue
        bad.add(fld)
        zh, en = FIELD_ZH.get(fld, fld), FIELD_EN.get(fld, fld)
        kind, value = err.get("type", ""), err.get("input")
        if fld == "name" and kind in ("missing", "string_too_short"):
            result.error(row, fld, "name_required", "姓名不能为空", "Name is required")
        elif kind == "invalid_phone":
            v = body.get("phone", "")
            result.error(
                row,
                fld,
                "invalid_phone",
                f"电话号码无效：{v}（{PHONE_RULE_ZH}）",
                f"Invalid phone number: {v} ({PHONE_RULE_EN})",
            )
        elif kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
            lo, hi = _bounds(loc) if loc in MemberIn.model_fields else (None, None)
            result.error(
                row, fld, "value_out_of_range", f"{zh}超出范围（{lo} 至 {hi}）：{value}",
                f"{en} out of range ({lo} to {hi}): {value}",
            )  # fmt: skip
        elif kind == "string_too_long":
            n = (err.get("ctx") or {}).get("max_length")
            result.error(row, fld, "value_too_long", f"{zh}过长（最多 {n} 个字符）", f"{en} is too long (at most {n})")
        else:
            result.error(row, fld, "invalid_value", f"{zh}无效", f"{en}: {err.get('msg', 'invalid')}")
    return bad


def _rule_errors(body: dict, skip: set[str], row: int, result: Result) -> None:
    """The rules ``members.service.create`` applies, each checked on its own so that a row's every problem is
    reported at once: categories (every unknown one), a town for town and village members, the location."""
    categories = [] if "categories" in skip else body.get("categories") or []
    for category in categories:
        try:
            validate_category(category)
        except AppError as exc:
            result.error(row, "categories", exc.code, exc.zh, exc.en)
    if body.get("level") in ("town", "village") and not body.get("town_code") and not {"town", "village"} & skip:
        result.error(
            row, "town", "town_required", "镇级、村级委员须指定所属镇街", "Town- and village-level members need a town"
        )
    lat, lon = body.get("lat"), body.get("lon")
    if (lat is not None or lon is not None) and not {"lat", "lon", "coord_system"} & skip:
        try:
            validate_location(lat, lon, body.get("coord_system", "wgs84"))
        except AppError as exc:
            fld = "lon" if exc.code == "incomplete_location" and lon is None else "lat"
            result.error(row, fld, exc.code, exc.zh, exc.en)


def _row_to_body(values: dict[str, str], row: int, regions: Regions, result: Result) -> dict | None:
    """Parse one row's cells into ``MemberIn`` fields; record every problem found (cells that cannot be read,
    the model's refusals, the service's rules); None when any."""
    before = len(result.errors)
    bad = _check_characters(values, row, result)

    def fail(fld: str, code: str, zh: str, en: str) -> None:
        result.error(row, fld, code, zh, en)
        bad.add(fld)

    body: dict[str, Any] = {"name": values.get("name", "")}
    if values.get("phone") and "phone" not in bad:
        body["phone"] = values["phone"]
    if values.get("sector"):
        body["sector"] = values["sector"]

    level = values.get("level", "")
    body["level"] = LEVELS.get(level.strip().lower())
    if body["level"] is None:
        if level:
            fail(
                "level",
                "invalid_level",
                f"层级无效：{level}（区/镇/村）",
                f"Invalid level: {level} (district/town/village)",
            )
        else:
            fail("level", "level_required", "层级不能为空（区/镇/村）", "Level is required (district/town/village)")
        del body["level"]

    town_code = None
    if values.get("town") and "town" not in bad:
        towns = regions.town(values["town"])
        if len(towns) == 1:
            town_code = body["town_code"] = towns[0].code
        else:
            fail("town", "unknown_town", f"未知的镇街：{values['town']}", f"Unknown town: {values['town']}")
    if values.get("village") and "village" not in bad:
        villages = regions.village(values["village"], town_code)
        v = values["village"]
        if len(villages) == 1:
            body["village_code"] = villages[0].code
            body.setdefault("town_code", villages[0].parent_code)
        elif len(villages) > 1:
            fail(
                "village", "ambiguous_village", f"村社区重名，请填写镇街：{v}", f"Ambiguous village, give its town: {v}"
            )
        elif "town" in bad:  # an unknown town: the village cannot be looked for in it
            bad.add("village")
        else:
            fail("village", "unknown_village", f"未知的村社区：{v}", f"Unknown village: {v}")

    if values.get("categories") and "categories" not in bad:
        body["categories"] = [c.strip() for c in CATEGORY_SPLIT.split(values["categories"]) if c.strip()]
    if values.get("capacity") and "capacity" not in bad:
        n = _number(values["capacity"])
        c = values["capacity"]
        if n is None or not n.is_integer():
            fail("capacity", "invalid_capacity", f"容量须为整数：{c}", f"Capacity must be a whole number: {c}")
        else:
            body["capacity"] = int(n)
    if values.get("on_duty") and "on_duty" not in bad:
        duty = _bool(values["on_duty"])
        if duty is None:
            d = values["on_duty"]
            fail("on_duty", "invalid_on_duty", f"在岗须为是/否：{d}", f"On duty must be yes/no: {d}")
        else:
            body["on_duty"] = duty
    for key in ("lat", "lon"):
        if values.get(key) and key not in bad:
            n = _number(values[key])
            if n is None:
                v = values[key]
                fail(key, "invalid_number", f"{FIELD_ZH[key]}须为数字：{v}", f"{FIELD_EN[key]} must be a number: {v}")
            else:
                body[key] = n
    if values.get("coord_system") and "coord_system" not in bad:
        cs = COORDS.get(re.sub(r"[\s_-]", "", values["coord_system"].lower()))
        if cs is None:
            v = values["coord_system"]
            fail("coord_system", "invalid_coord_system", f"坐标系无效：{v}", f"Invalid coordinate system: {v}")
        else:
            body["coord_system"] = cs

    bad |= _model_errors(body, bad, row, result)
    _rule_errors(body, bad, row, result)
    return body if len(result.errors) == before else None


def _create(session: Session, body: dict, row: int, result: Result) -> None:
    """Create the member of a row ``_row_to_body`` passed, through ``members.service.create`` in a savepoint."""
    try:
        member_in = MemberIn(**body)
    except ValidationError:  # _row_to_body reported it
        _model_errors(body, set(), row, result)
        return
    try:
        with session.begin_nested():
            service.create(session, member_in)
    except AppError as exc:
        fld = exc.details.get("field")
        fld = _MODEL_FIELD.get(fld, fld) or {
            "town_required": "town",
            "unknown_category": "categories",
            "point_not_found": None,
        }.get(exc.code, "lat" if "location" in exc.code else None)
        result.error(row, fld, exc.code, exc.zh, exc.en)
        return
    result.created += 1


def _column_letter(index: int) -> str:
    out = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        out = chr(65 + rem) + out
    return out


def run(session: Session, data: bytes, filename: str = "", *, dry_run: bool = False) -> Result:
    """Import; the caller's session is committed only on success without ``dry_run``, else rolled back."""
    result = Result()
    rows = read_table(data, filename)
    header_at = next((i for i, r in enumerate(rows) if any(c for c in r)), None)
    if header_at is None:
        result.error(1, None, "empty_file", "文件为空", "The file is empty")
        return result
    header = rows[header_at]
    columns: dict[int, str] = {}
    for i, h in enumerate(header):
        key = header_field(h)
        if key and key not in columns.values():
            columns[i] = key
    for key in REQUIRED:
        if key not in columns.values():
            zh, en, _ = COLUMNS[key]
            result.error(header_at + 1, key, "missing_column", f"缺少“{zh}”列", f'Missing column "{en}"')
    if result.errors:
        _locate(result, columns, header)
        return result
    # at most MAX_ROWS: read_table stops (413 too_many_rows) past the header and MAX_ROWS filled rows
    body_rows = [(header_at + 2 + n, r) for n, r in enumerate(rows[header_at + 1 :]) if any(c for c in r)]
    regions = Regions(session)
    try:
        for row_no, cells in body_rows:
            result.rows += 1
            values = {key: cells[i].strip() if i < len(cells) else "" for i, key in columns.items()}
            body = _row_to_body(values, row_no, regions, result)
            if body is not None:
                _create(session, body, row_no, result)
        if result.errors or dry_run:
            session.rollback()
        else:
            session.commit()
    except BaseException:
        session.rollback()
        raise
    if result.errors:
        result.created = 0
    _locate(result, columns, header)
    return result


def _locate(result: Result, columns: dict[int, str], header: list[str]) -> None:
    """Each error's ``column``: the letter of its field's column in the file (None when the file has none) and
    ``header``: that column's header as written (else the template's Chinese header). Sorted by row, then in the
    order of the file's columns."""
    where = {key: i for i, key in columns.items()}
    result.errors.sort(key=lambda e: (e["row"], where.get(e["field"], len(header))))
    for err in result.errors:
        i = where.get(err["field"])
        err["column"] = _column_letter(i) if i is not None else None
        err["header"] = header[i] if i is not None else FIELD_ZH.get(err["field"]) if err["field"] else None


# --------------------------------------------------------------------------- the template


def template(session: Session) -> bytes:
    """An XLSX to fill in: the header row, drop-downs, an instructions sheet and the towns and villages."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.worksheet.datavalidation import DataValidation

    from dispatch import spreadsheets  # late, like openpyxl: not loaded until a workbook is written

    wb = Workbook()
    ws = wb.active
    ws.title = "委员 Members"
    keys = list(COLUMNS)
    spreadsheets.append(ws, [COLUMNS[k][0] for k in keys])
    bold, fill = Font(bold=True), PatternFill("solid", fgColor="F2DCDB")
    for i, key in enumerate(keys, start=1):
        cell = ws.cell(row=1, column=i)
        cell.font, cell.fill = bold, fill
        ws.column_dimensions[cell.column_letter].width = 24 if key in ("categories", "village") else 14
    ws.freeze_panes = "A2"
    col = {k: ws.cell(row=1, column=i + 1).column_letter for i, k in enumerate(keys)}
    for key, options in (("level", "区,镇,村"), ("on_duty", "是,否"), ("coord_system", "wgs84,gcj02,bd09")):
        dv = DataValidation(type="list", formula1=f'"{options}"', allow_blank=True)
        ws.add_data_validation(dv)
        dv.add(f"{col[key]}2:{col[key]}{MAX_ROWS + 1}")
    for key in ("phone", "town", "village"):
        for r in range(2, 502):
            ws[f"{col[key]}{r}"].number_format = "@"  # text: keeps leading zeros and long codes

    notes = wb.create_sheet("说明 Instructions")
    spreadsheets.append(notes, ["列 Column", "英文列名 English header", "必填 Required", "说明 Notes", "示例 Example"])
    explain = {
        "name": ("委员姓名 / Member's name", "张三"),
        "phone": ("手机号码 / Mobile number", "13800001234"),
        "level": ("区 / 镇 / 村（district / town / village）", "镇"),
        "sector": ("所属界别 / Sector", "农业界"),
        "town": ("镇街名称或代码；镇级、村级委员必填 / Town name or code (town and village members)", "潘黄街道"),
        "village": ("村（社区）名称或代码 / Village name or code", "东徐居委会"),
        "categories": ("12345 分类，用 、 , ; | 分隔；留空表示全部 / Categories; empty = all", "城乡建设、环境保护"),
        "capacity": ("同时承接的最大件数（整数，默认 3）/ Most cases at once", "3"),
        "on_duty": ("是 / 否（默认 是）/ yes or no (default yes)", "是"),
        "lat": ("纬度 / Latitude", "33.3500"),
        "lon": ("经度 / Longitude", "120.1000"),
        "coord_system": ("wgs84（GPS，默认）、gcj02（高德/腾讯）、bd09（百度）", "wgs84"),
    }
    for key in keys:
        zh, en, _ = COLUMNS[key]
        spreadsheets.append(notes, [zh, en, "是 Yes" if key in REQUIRED else "", *explain[key]])
    spreadsheets.append(notes, [])
    spreadsheets.append(
        notes,
        ["全部导入或全部不导入：任何一行有错，都不会创建委员。/ All or nothing: one bad row and none is created."],
    )
    for c in notes[1]:
        c.font = bold
    for letter, width in zip("ABCDE", (12, 18, 12, 70, 20), strict=True):
        notes.column_dimensions[letter].width = width
    for row in notes.iter_rows(min_row=2):
        for c in row:
            c.alignment = Alignment(wrap_text=True, vertical="top")

    regions = wb.create_sheet("区划 Regions")
    spreadsheets.append(regions, ["镇街代码 Town code", "镇街 Town", "村社区代码 Village code", "村社区 Village"])
    for c in regions[1]:
        c.font = bold
    all_regions = session.exec(select(Region).order_by(Region.code)).all()
    towns = {r.code: r.name for r in all_regions if r.level == "town"}
    for r in all_regions:
        if r.level == "village":
            spreadsheets.append(regions, [r.parent_code, towns.get(r.parent_code, ""), r.code, r.name])
    for letter, width in zip("ABCD", (20, 22, 24, 22), strict=True):
        regions.column_dimensions[letter].width = width

    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
