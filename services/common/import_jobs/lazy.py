"""Items read in another process, brought back as pickled slices and unpickled only when a
batch needs them (in the worker thread that stores the batch).

Why: unpickling everything a 50,000-claim 837 read gives (about 2 KB of objects per claim)
holds the interpreter lock for 10 s and more on a busy machine, and it happened in one piece
(in the process pool's result thread, then the event loop waited): every coroutine of the
service, WatchImportJob's once-a-second progress included, stopped for that long. Slices of
`SLICE_ITEMS` unpickle in tens of milliseconds each.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterator, Sequence
from typing import Any, overload

SLICE_ITEMS = 100


def pack(items: Sequence[Any], size: int = SLICE_ITEMS) -> tuple[bytes, ...]:
    """The items as pickled slices of `size` (runs in the reader process)."""
    return tuple(
        pickle.dumps(list(items[i : i + size]), protocol=pickle.HIGHEST_PROTOCOL)
        for i in range(0, len(items), size)
    )


class PickledItems(Sequence[Any]):
    """A sequence over pickled slices: a slice of it stays pickled until it is read, an item is
    unpickled with its slice (`convert` applied to each item on the way out)."""

    def __init__(
        self, slices: Sequence[bytes], count: int, size: int = SLICE_ITEMS,
        convert: Callable[[Any], Any] = lambda item: item,
    ) -> None:  # fmt: skip
        self.slices = tuple(slices)
        self.total = count
        self.size = size
        self.convert = convert

    def __len__(self) -> int:
        return self.total

    def _slice(self, number: int) -> list[Any]:
        return [self.convert(item) for item in pickle.loads(self.slices[number])]  # noqa: S301 (our own reader process's output)

    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Any]: ...
    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return _Window(self, *index.indices(self.total)[:2])
        if index < 0:
            index += self.total
        if not 0 <= index < self.total:
            raise IndexError(index)
        return self._slice(index // self.size)[index % self.size]

    def __iter__(self) -> Iterator[Any]:
        for number in range(len(self.slices)):
            yield from self._slice(number)

    def items(self, start: int, stop: int) -> list[Any]:
        """Items `start` to `stop`, unpickling only the slices that hold them."""
        found: list[Any] = []
        for number in range(start // self.size, (max(stop, start + 1) - 1) // self.size + 1):
            first = number * self.size
            found.extend(self._slice(number)[max(start - first, 0) : stop - first])
        return found[: max(stop - start, 0)]


class _Window(Sequence[Any]):
    """Items start..stop of a PickledItems, unpickled on first use."""

    def __init__(self, source: PickledItems, start: int, stop: int) -> None:
        self.source = source
        self.start = start
        self.stop = max(stop, start)
        self._items: list[Any] | None = None

    def _read(self) -> list[Any]:
        if self._items is None:
            self._items = self.source.items(self.start, self.stop)
        return self._items

    def __len__(self) -> int:
        return self.stop - self.start

    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Any]: ...
    def __getitem__(self, index: int | slice) -> Any:
        return self._read()[index]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._read())
