"""The cos/sin tables rope keeps between calls: one cache for every Rope, bounded by bytes.

A model rotates q and k of every layer at the same positions, so the tables of the last
positions are worth keeping; tables of many configurations and long sequences are not worth
keeping forever. Every Rope (also those `rope.apply` keeps for its recent arguments) stores
its tables here, the least recently used dropped first once the bytes pass `max_bytes`;
`rope.clear_cache()` drops them all.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import numpy as np

__all__ = ["TableCache", "clear_cache", "tables"]


class TableCache:
    """Tables keyed by their configuration and positions, least recently used dropped first.

    A key holds what is cheap to compare (the frequencies' object, dtypes, shapes, the first
    and last position); an entry also holds its positions' bytes, compared in full on a hit
    (the key holds their dtype and shape), and the frequencies' object itself, so that its id in the key stays its own.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple, tuple] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        """Bytes of the tables (and positions) kept."""
        return self._bytes

    def get(self, key: tuple, owner: object, positions: np.ndarray) -> Any:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
        kept_owner, kept_positions, value, _ = entry
        # (bytes compare in one memcmp; np.array_equal costs microseconds for a few positions)
        if kept_owner is owner and kept_positions == positions.tobytes():
            return value
        return None

    def put(self, key: tuple, owner: object, positions: np.ndarray, value: object,
            nbytes: int) -> None:
        """Keep `value` (`nbytes` of tables) unless it alone would exceed the bound."""
        nbytes += positions.nbytes
        if nbytes > self.max_bytes:
            return
        entry = (owner, positions.tobytes(), value, nbytes)
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old[3]
            while self._entries and self._bytes + nbytes > self.max_bytes:
                self._bytes -= self._entries.popitem(last=False)[1][3]
            self._entries[key] = entry
            self._bytes += nbytes

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0


#: The tables every Rope keeps: 64 MiB, the tables of 64k positions of a 128-wide head in
#: float64, several times what a model's q and k need at once.
tables = TableCache(64 << 20)


def clear_cache() -> None:
    """Drop the cos/sin tables rope keeps between calls, and `rope.apply`'s recent Ropes.

    rope keeps the tables of recent positions (at most 64 MiB in all), so that k after q, and
    the next layer, reuse them. Call this to return that memory now, e.g. after a long
    sequence; later calls rebuild what they need.

    Examples
    --------
    >>> import numpy as np, rope
    >>> q = np.ones((4, 8), np.float32)
    >>> _ = rope.apply(q, 0)
    >>> rope.clear_cache()
    """
    tables.clear()
    from ._api import forget_ropes  # the Ropes apply keeps hold no tables, only frequencies

    forget_ropes()
