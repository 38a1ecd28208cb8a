"""The category tree (15 / 103 / 517 classes) of ../shared/data/messages/taxonomy.csv, plus 其他 (other).

A category is a path: "城乡建设", "城乡建设/安全生产" or "城乡建设/安全生产/安全隐患". A bare leaf name that
is unique in the tree ("燃气供应") is accepted and normalised to its path.
"""

from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

OTHER = "其他"
_FILE = Path(__file__).parent / "data" / "taxonomy.csv"
_ENGLISH = Path(__file__).parent / "data" / "categories_en.csv"


@lru_cache
def _tree() -> tuple[frozenset[str], dict[str, str], tuple[str, ...]]:
    paths: set[str] = {OTHER}
    by_name: dict[str, set[str]] = {}
    top: list[str] = []
    with _FILE.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            parts = [row["一级分类"].strip(), row["二级分类"].strip(), row["三级分类"].strip()]
            for depth in range(1, 4):
                path = "/".join(parts[:depth])
                paths.add(path)
                by_name.setdefault(parts[depth - 1], set()).add(path)
            if parts[0] not in top:
                top.append(parts[0])
    unique = {name: next(iter(p)) for name, p in by_name.items() if len(p) == 1}
    return frozenset(paths), unique, (*top, OTHER)


def covers(prefix: str, category: str | None) -> bool:
    """Whether the branch ``prefix`` ("" = the whole tree) holds ``category``: the path itself or below it,
    never a sibling that merely starts with the same characters ("城乡建设/安全" does not cover
    "城乡建设/安全生产"). SQL spells the same rule as ``category = p OR category LIKE p || '/%'`` (Open311's
    service filter); the locator's Lua the same way."""
    if prefix == "":
        return True
    return category is not None and (category == prefix or category.startswith(prefix + "/"))


def top_level() -> tuple[str, ...]:
    return _tree()[2]


def normalise(category: str | None) -> str | None:
    """The category's full path, or None when it is not in the tree."""
    if category is None:
        return None
    category = category.strip().replace(" / ", "/").replace(">", "/")
    paths, unique, _ = _tree()
    if category in paths:
        return category
    return unique.get(category)


@lru_cache
def english_names() -> dict[str, str]:
    """English names of the top-level categories (and 其他), for pages in English."""
    with _ENGLISH.open(encoding="utf-8") as fh:
        names = {row["一级分类"].strip(): row["English"].strip() for row in csv.DictReader(fh)}
    missing = set(top_level()) - names.keys()
    if missing:
        raise RuntimeError(f"categories_en.csv lacks {sorted(missing)}")
    return names
