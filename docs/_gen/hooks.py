"""MkDocs hook: nav entries for pages that may not exist yet.

``extra.optional_pages`` in mkdocs.yml lists pages (or glob patterns such as ``clients/*.md``) that
other work will add. A nav entry naming one of them is kept when its file exists and dropped while
it does not; a pattern expands to every matching page, sorted. A section left empty disappears.
Every other entry is untouched, so a typo in the nav still fails the strict build.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any

NavItem = Any  # str | dict[str, str | list[NavItem]], as mkdocs.yml writes it


def on_config(config: Any) -> Any:
    optional = [str(p) for p in (config.extra or {}).get("optional_pages", [])]
    if config.nav and optional:
        docs = Path(config.docs_dir)
        pages = sorted(p.relative_to(docs).as_posix() for p in docs.rglob("*.md"))
        config.nav = _items(config.nav, optional, pages)
    return config


def _items(items: list[NavItem], optional: list[str], pages: list[str]) -> list[NavItem]:
    result: list[NavItem] = []
    for item in items:
        result.extend(_item(item, optional, pages))
    return result


def _item(item: NavItem, optional: list[str], pages: list[str]) -> list[NavItem]:
    if isinstance(item, str):
        return _paths(item, optional, pages)
    if isinstance(item, dict) and len(item) == 1:
        [(title, value)] = item.items()
        if isinstance(value, list):
            children = _items(value, optional, pages)
            return [{title: children}] if children else []
        if isinstance(value, str):
            return [{title: path} for path in _paths(value, optional, pages)]
    return [item]


def _paths(path: str, optional: list[str], pages: list[str]) -> list[str]:
    if path not in optional:
        return [path]
    if any(c in path for c in "*?["):
        return sorted(page for page in pages if fnmatch.fnmatchcase(page, path))
    return [path] if path in pages else []
