"""Page numbers (the platform's `page`, `per_page`) over the catalog's keyset listing.

The catalog pages by id (`after_id`); a client walking pages 1, 2, 3 ... gets each page from
where the last one ended (remembered per listing), so listing a large app stays linear.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from pipeline.errors import InputError
from pipeline.status import StatusCode

DEFAULT_PER_PAGE = 128
MAX_PER_PAGE = 1000
_CURSORS = 4096

Fetch = Callable[[str, int], list[dict[str, Any]]]  # (after_id, limit) -> rows in id order
Keep = Callable[[dict[str, Any]], bool]


def page_size(page: int, per_page: int) -> tuple[int, int]:
    """The page (1-based) and its size; per_page 0 means the default."""
    if page < 0 or per_page < 0:
        raise InputError(StatusCode.CONN_INVALID_REQUEST, "page and per_page cannot be negative")
    if per_page > MAX_PER_PAGE:
        raise InputError(
            StatusCode.CONN_INVALID_REQUEST, f"per_page is at most {MAX_PER_PAGE}, not {per_page}"
        )
    return max(page, 1), per_page or DEFAULT_PER_PAGE


class Pager:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cursors: OrderedDict[Hashable, str] = OrderedDict()

    def page(
        self,
        listing: Hashable,
        fetch: Fetch,
        page: int,
        per_page: int,
        keep: Keep | None = None,
    ) -> list[dict[str, Any]]:
        """Rows of page `page` of `listing` (what `fetch` lists, filtered by `keep`)."""
        page, per_page = page_size(page, per_page)
        with self._lock:
            after = self._cursors.get((listing, per_page, page))
        start = 1 if after is None else page
        after = after or ""
        for current in range(start, page + 1):
            rows = _collect(fetch, after, per_page, keep)
            if current == page or len(rows) < per_page:
                break
            after = rows[-1]["id"]
        else:  # pragma: no cover - the loop always breaks
            rows = []
        if current == page and len(rows) == per_page:
            self._remember((listing, per_page, page + 1), rows[-1]["id"])
        return rows if current == page else []

    def _remember(self, key: Hashable, after: str) -> None:
        with self._lock:
            self._cursors[key] = after
            self._cursors.move_to_end(key)
            while len(self._cursors) > _CURSORS:
                self._cursors.popitem(last=False)


def _collect(fetch: Fetch, after: str, want: int, keep: Keep | None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while len(out) < want:
        rows = fetch(after, want)
        out.extend(r for r in rows if keep is None or keep(r))
        if len(rows) < want:
            break
        after = rows[-1]["id"]
    return out[:want]
