"""RFC 9162 (Certificate Transparency v2) Merkle tree: hashing, proofs and their verification.

Pure functions. Proof *generation* is split in two steps so a store can serve it: a plan names
the perfect subtrees (level, index) whose hashes make up the proof, the store fetches those
nodes, and `assemble` folds them into proof hashes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()

NodeKey = tuple[int, int]
"""(level, index) of a perfect subtree: level 0 are leaves, index counts from the left."""

Range = tuple[int, int]
"""Half-open range of leaf indexes [start, end) whose Merkle tree hash is a proof element."""


def leaf_hash(leaf_input: bytes) -> bytes:
    return hashlib.sha256(LEAF_PREFIX + leaf_input).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _split(size: int) -> int:
    """Largest power of two strictly smaller than size (size >= 2)."""
    return 1 << ((size - 1).bit_length() - 1)


def root_of_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    """MTH over already-hashed leaves (reference recursion, used by tests and small trees)."""
    if not hashes:
        return EMPTY_ROOT
    if len(hashes) == 1:
        return hashes[0]
    k = _split(len(hashes))
    return node_hash(root_of_leaf_hashes(hashes[:k]), root_of_leaf_hashes(hashes[k:]))


def perfect_subtrees(start: int, end: int) -> list[NodeKey]:
    """Decompose an RFC 9162 range [start, end) into perfect subtrees, left to right."""
    keys: list[NodeKey] = []
    size = end - start
    while size > 0:
        chunk = size if size & (size - 1) == 0 else _split(size)
        level = chunk.bit_length() - 1
        keys.append((level, start >> level))
        start += chunk
        size -= chunk
    return keys


def fold_subtrees(hashes: Sequence[bytes]) -> bytes:
    """Hash of a range from its perfect subtrees (left to right): the right part nests deepest."""
    if not hashes:
        return EMPTY_ROOT
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """RFC 9162 §2.1.3.1 PATH(index, D[0:size]) as ranges, leaf-side first."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} outside tree of size {size}")
    ranges: list[Range] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index - start < k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    ranges.reverse()
    return ranges


def consistency_ranges(old_size: int, new_size: int) -> list[Range]:
    """RFC 9162 §2.1.4.1 PROOF(old_size, D[0:new_size]) as ranges, in proof order."""
    if not 0 <= old_size <= new_size:
        raise ValueError(f"cannot prove size {old_size} against size {new_size}")
    if old_size in (0, new_size):
        return []
    ranges: list[Range] = []
    start, end, have_old_root = 0, new_size, True
    m = old_size
    while True:
        size = end - start
        if m == size:
            if not have_old_root:
                ranges.append((start, end))
            break
        k = _split(size)
        if m <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
            m -= k
            have_old_root = False
    ranges.reverse()
    return ranges


def node_keys_for(ranges: Iterable[Range]) -> set[NodeKey]:
    """Every stored node a proof over these ranges needs."""
    return {key for start, end in ranges for key in perfect_subtrees(start, end)}


def assemble(ranges: Sequence[Range], nodes: Mapping[NodeKey, bytes]) -> list[bytes]:
    """Turn proof ranges into proof hashes using fetched perfect-subtree nodes."""
    return [fold_subtrees([nodes[key] for key in perfect_subtrees(s, e)]) for s, e in ranges]


def root_from_nodes(size: int, nodes: Mapping[NodeKey, bytes]) -> bytes:
    return fold_subtrees([nodes[key] for key in perfect_subtrees(0, size)])


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2: does `leaf` (a leaf hash) sit at `index` of the tree with `root`?"""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2: is the tree (new_size, new_root) an append-only extension?"""
    if old_size > new_size or old_size < 0:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root


@dataclass
class Frontier:
    """The right edge of a growing tree: one perfect subtree per set bit of `size`.

    Appending a leaf returns every perfect-subtree node it completes, so a store can persist
    them and later answer any proof with O(log n) lookups.
    """

    size: int = 0
    subtrees: list[bytes] = field(default_factory=list)

    @classmethod
    def load(cls, size: int, lookup: Callable[[NodeKey], bytes]) -> Frontier:
        return cls(size=size, subtrees=[lookup(key) for key in perfect_subtrees(0, size)])

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add a leaf hash; return the new nodes as (level, index, hash)."""
        index = self.size
        created = [(0, index, leaf)]
        current, level = leaf, 0
        # Each trailing 1-bit of the old size is a left sibling that now becomes complete.
        while (index >> level) & 1:
            current = node_hash(self.subtrees.pop(), current)
            level += 1
            created.append((level, index >> level, current))
        self.subtrees.append(current)
        self.size += 1
        return created

    def root(self) -> bytes:
        return fold_subtrees(self.subtrees)


