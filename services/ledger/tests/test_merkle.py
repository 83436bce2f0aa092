"""RFC 9162 / RFC 6962 Merkle tree: published test vectors and properties of the proofs."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.ledger.domain import merkle
from services.ledger.tests.memory_log import MemoryTree

# Leaves and expected hashes: the RFC 6962 vectors of certificate-transparency, as published in
# transparency-dev/merkle (testonly/constants.go, testonly/reference_test.go).
LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
INCLUSION = [
    (0, 1, []),
    (0, 2, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"]),
    (1, 2, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]
CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]


def tree_of(count: int) -> MemoryTree:
    tree = MemoryTree()
    for i in range(count):
        tree.append(merkle.leaf_hash(i.to_bytes(8, "big")))
    return tree


@pytest.fixture(scope="module")
def vector_tree() -> MemoryTree:
    tree = MemoryTree()
    for leaf in LEAVES:
        tree.append(merkle.leaf_hash(leaf))
    return tree


def test_empty_tree_root_is_hash_of_nothing() -> None:
    assert merkle.EMPTY_ROOT.hex() == ROOTS[0]
    assert merkle.root_of_leaf_hashes([]).hex() == ROOTS[0]


@pytest.mark.parametrize("size", range(1, 9))
def test_root_hashes_match_rfc6962_vectors(vector_tree: MemoryTree, size: int) -> None:
    assert vector_tree.root(size).hex() == ROOTS[size]
    leaves = [merkle.leaf_hash(leaf) for leaf in LEAVES[:size]]
    assert merkle.root_of_leaf_hashes(leaves).hex() == ROOTS[size]


@pytest.mark.parametrize(("index", "size", "expected"), INCLUSION)
def test_inclusion_proofs_match_vectors(
    vector_tree: MemoryTree, index: int, size: int, expected: list[str]
) -> None:
    proof = vector_tree.inclusion_proof(index, size)
    assert [h.hex() for h in proof] == expected
    leaf = merkle.leaf_hash(LEAVES[index])
    assert merkle.verify_inclusion(index, size, leaf, proof, bytes.fromhex(ROOTS[size]))


@pytest.mark.parametrize(("old", "new", "expected"), CONSISTENCY)
def test_consistency_proofs_match_vectors(
    vector_tree: MemoryTree, old: int, new: int, expected: list[str]
) -> None:
    proof = vector_tree.consistency_proof(old, new)
    assert [h.hex() for h in proof] == expected
    assert merkle.verify_consistency(
        old, new, bytes.fromhex(ROOTS[old]), bytes.fromhex(ROOTS[new]), proof
    )


def test_inclusion_rejects_wrong_index_size_leaf_and_root(vector_tree: MemoryTree) -> None:
    proof = vector_tree.inclusion_proof(5, 8)
    leaf, root = merkle.leaf_hash(LEAVES[5]), bytes.fromhex(ROOTS[8])
    assert not merkle.verify_inclusion(4, 8, leaf, proof, root)
    assert not merkle.verify_inclusion(5, 6, leaf, proof, root)
    assert not merkle.verify_inclusion(5, 8, merkle.leaf_hash(LEAVES[4]), proof, root)
    assert not merkle.verify_inclusion(5, 8, leaf, proof, bytes.fromhex(ROOTS[7]))
    assert not merkle.verify_inclusion(5, 8, leaf, proof[:-1], root)
    assert not merkle.verify_inclusion(8, 8, leaf, proof, root)


def test_consistency_rejects_forked_history(vector_tree: MemoryTree) -> None:
    proof = vector_tree.consistency_proof(6, 8)
    forked = tree_of(6).root()
    assert not merkle.verify_consistency(6, 8, forked, bytes.fromhex(ROOTS[8]), proof)
    assert not merkle.verify_consistency(8, 6, bytes.fromhex(ROOTS[8]), forked, proof)
    assert not merkle.verify_consistency(6, 8, bytes.fromhex(ROOTS[6]), bytes.fromhex(ROOTS[8]), [])


def test_leaf_and_node_hashes_are_domain_separated() -> None:
    left, right = merkle.leaf_hash(b"a"), merkle.leaf_hash(b"b")
    assert merkle.leaf_hash(left + right) != merkle.node_hash(left, right)


@given(size=st.integers(1, 300), data=st.data())
def test_every_inclusion_proof_verifies_and_is_logarithmic(size: int, data: st.DataObject) -> None:
    tree = tree_of(size)
    index = data.draw(st.integers(0, size - 1))
    proof = tree.inclusion_proof(index, size)
    assert len(proof) <= math.ceil(math.log2(size)) if size > 1 else proof == []
    leaf = merkle.leaf_hash(index.to_bytes(8, "big"))
    reference_root = merkle.root_of_leaf_hashes(
        [merkle.leaf_hash(i.to_bytes(8, "big")) for i in range(size)]
    )
    assert tree.root(size) == reference_root
    assert merkle.verify_inclusion(index, size, leaf, proof, reference_root)
    if proof:
        position = data.draw(st.integers(0, len(proof) - 1))
        forged = [*proof]
        forged[position] = bytes(32)
        assert not merkle.verify_inclusion(index, size, leaf, forged, reference_root)


@given(new=st.integers(1, 300), data=st.data())
def test_every_consistency_proof_verifies(new: int, data: st.DataObject) -> None:
    tree = tree_of(new)
    old = data.draw(st.integers(1, new))
    proof = tree.consistency_proof(old, new)
    assert len(proof) <= 2 * math.ceil(math.log2(new)) + 1
    assert merkle.verify_consistency(old, new, tree.root(old), tree.root(new), proof)
    if old < new:
        assert not merkle.verify_consistency(old, new, tree.root(new), tree.root(new), proof)


@given(size=st.integers(0, 200))
def test_frontier_reloaded_from_nodes_continues_identically(size: int) -> None:
    tree = tree_of(size)
    reloaded = merkle.Frontier.load(size, lambda key: tree.nodes[key])
    assert reloaded.root() == tree.root()
    extra = merkle.leaf_hash(b"next")
    reloaded.append(extra)
    tree.append(extra)
    assert reloaded.root() == tree.root()
