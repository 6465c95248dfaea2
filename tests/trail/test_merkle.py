"""RFC 6962 / 9162 Merkle tree: known answers, the transparency-dev probes, exhaustive proof
checks on small trees, and the incremental node store against a naive recursive reference."""

import base64
import hashlib
import json
import random
from pathlib import Path

import pytest

from cases.trail.merkle import (
    EMPTY_ROOT,
    ProofError,
    append_leaf,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    root_at,
    root_from_border,
    verify_consistency,
    verify_inclusion,
)

# --- known answers: reference/merkle/vectors.md, copied as literals ------------------------

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
LEAF_HASHES = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
    "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
    "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
]
INCLUSION = {
    (0, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (5, 8): [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
    (2, 3): ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
    (1, 5): [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
    (6, 7): [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
}
CONSISTENCY = {
    (1, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (6, 8): [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
    (2, 5): [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
    (3, 7): [
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "837dbb152e9b079010717e84e865da4ebc0fa198a806d59d31bf15accef22d0e",
    ],
    (4, 8): ["6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"],
}
HASHER_LEAF = "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
HASHER_NODE = "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"

TESTDATA = (
    Path(__file__).resolve().parents[2] / ".." / "shared" / "reference" / "merkle" / "testdata"
).resolve()


# --- a naive reference: RFC 9162 section 2.1 read literally ---------------------------------


def naive_mth(hashes: list[bytes]) -> bytes:
    if not hashes:
        return EMPTY_ROOT
    if len(hashes) == 1:
        return hashes[0]
    k = 1 << ((len(hashes) - 1).bit_length() - 1)
    return node_hash(naive_mth(hashes[:k]), naive_mth(hashes[k:]))


def naive_path(m: int, hashes: list[bytes]) -> list[bytes]:
    if len(hashes) == 1:
        return []
    k = 1 << ((len(hashes) - 1).bit_length() - 1)
    if m < k:
        return naive_path(m, hashes[:k]) + [naive_mth(hashes[k:])]
    return naive_path(m - k, hashes[k:]) + [naive_mth(hashes[:k])]


def naive_subproof(m: int, hashes: list[bytes], whole: bool) -> list[bytes]:
    n = len(hashes)
    if m == n:
        return [] if whole else [naive_mth(hashes)]
    k = 1 << ((n - 1).bit_length() - 1)
    if m <= k:
        return naive_subproof(m, hashes[:k], whole) + [naive_mth(hashes[k:])]
    return naive_subproof(m - k, hashes[k:], False) + [naive_mth(hashes[:k])]


class Store:
    """The node store as the database keeps it, built only through append_leaf."""

    def __init__(self, hashes: list[bytes]) -> None:
        self.nodes: dict[tuple[int, int], bytes] = {}
        self.border: list[bytes] = []
        self.roots = [EMPTY_ROOT]
        for size, h in enumerate(hashes):
            self.border, created = append_leaf(self.border, size, h)
            for level, index, value in created:
                assert (level, index) not in self.nodes, f"node {(level, index)} created twice"
                self.nodes[(level, index)] = value
            self.roots.append(root_from_border(self.border))
        self.lookups = 0

    def node(self, level: int, index: int) -> bytes:
        self.lookups += 1
        return self.nodes[(level, index)]


def hashes_for(n: int) -> list[bytes]:
    return [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


SMALL = hashes_for(64)
SMALL_STORE = Store(SMALL)


def flipped(h: bytes, bit: int) -> bytes:
    return (int.from_bytes(h, "big") ^ (1 << bit)).to_bytes(32, "big")


SAMPLE_BITS = (0, 7, 128, 255)  # every proof element is mutated, at these bits


# --- known answers ---------------------------------------------------------------------------


def test_hasher_vectors():
    assert leaf_hash(b"L123456").hex() == HASHER_LEAF
    assert node_hash(b"N123", b"N456").hex() == HASHER_NODE
    assert hashlib.sha256(b"").digest() == EMPTY_ROOT


def test_leaf_hash_vectors():
    assert [leaf_hash(leaf).hex() for leaf in LEAVES] == LEAF_HASHES


@pytest.mark.parametrize("size", range(9))
def test_root_vectors(size):
    hashes = [leaf_hash(leaf) for leaf in LEAVES[:size]]
    store = Store(hashes)
    assert root(hashes).hex() == ROOTS[size]
    assert store.roots[size].hex() == ROOTS[size], "root_from_border"
    assert root_at(size, store.node).hex() == ROOTS[size], "root_at"


@pytest.mark.parametrize(("index", "size"), list(INCLUSION))
def test_inclusion_vectors(index, size):
    store = Store([leaf_hash(leaf) for leaf in LEAVES])
    expected = [bytes.fromhex(h) for h in INCLUSION[(index, size)]]
    assert inclusion_proof(index, size, store.node) == expected
    verify_inclusion(leaf_hash(LEAVES[index]), index, size, expected, bytes.fromhex(ROOTS[size]))


@pytest.mark.parametrize(("size1", "size2"), list(CONSISTENCY))
def test_consistency_vectors(size1, size2):
    store = Store([leaf_hash(leaf) for leaf in LEAVES])
    expected = [bytes.fromhex(h) for h in CONSISTENCY[(size1, size2)]]
    assert consistency_proof(size1, size2, store.node) == expected
    verify_consistency(
        size1, size2, expected, bytes.fromhex(ROOTS[size1]), bytes.fromhex(ROOTS[size2])
    )


# --- transparency-dev probes ------------------------------------------------------------------
# The subtree* folders hold probes for *subtree* proofs (draft-ietf-plants-merkle-tree-certs):
# inclusion in, and consistency of, an arbitrary subtree [start, end) of a tree. Docket neither
# issues nor checks that proof type. A subtree starting at 0 is an ordinary tree of size `end`,
# so those probes are RFC 9162 proofs under another name and run here too (inclusion into
# [0, end); consistency from size `end` to `size`). Excluded: subtrees starting after 0, and the
# empty subtree [0, 0), which the draft deems vacuously consistent with any tree where RFC
# consistency is stricter (consistency/additional/roots-do-not-match-and-sizes-are-zero.json is
# the same input with wantErr true).


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value or "")


def _probe_params(kind: str, applies=lambda probe: True) -> list:
    if not TESTDATA.is_dir():
        reason = f"reference probes not found at {TESTDATA}"
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason))]
    params = []
    for path in sorted(TESTDATA.glob(f"{kind}/**/*.json")):
        probe = json.loads(path.read_text())
        if applies(probe):
            params.append(pytest.param(probe, id=str(path.relative_to(TESTDATA))))
    return params


def _run_inclusion(probe: dict, size: int) -> bool:
    try:
        verify_inclusion(
            _b64(probe["leafHash"]),
            probe["leafIdx"],
            size,
            [_b64(p) for p in probe["proof"] or []],
            _b64(probe["root"]),
        )
    except ProofError:
        return False
    return True


def _run_consistency(probe: dict, size1: int, size2: int) -> bool:
    try:
        verify_consistency(
            size1,
            size2,
            [_b64(p) for p in probe["proof"] or []],
            _b64(probe["root1"]),
            _b64(probe["root2"]),
        )
    except ProofError:
        return False
    return True


@pytest.mark.parametrize("probe", _probe_params("inclusion"))
def test_inclusion_probe(probe):
    assert _run_inclusion(probe, probe["treeSize"]) is not probe["wantErr"], probe["desc"]


@pytest.mark.parametrize("probe", _probe_params("consistency"))
def test_consistency_probe(probe):
    verified = _run_consistency(probe, probe["size1"], probe["size2"])
    assert verified is not probe["wantErr"], probe["desc"]


@pytest.mark.parametrize(
    "probe", _probe_params("subtreeinclusion", lambda probe: probe["start"] == 0)
)
def test_subtree_inclusion_probe_from_zero(probe):
    assert _run_inclusion(probe, probe["end"]) is not probe["wantErr"], probe["desc"]


@pytest.mark.parametrize(
    "probe",
    _probe_params("subtreeconsistency", lambda probe: probe["start"] == 0 < probe["end"]),
)
def test_subtree_consistency_probe_from_zero(probe):
    verified = _run_consistency(probe, probe["end"], probe["size"])
    assert verified is not probe["wantErr"], probe["desc"]


@pytest.mark.skipif(not TESTDATA.is_dir(), reason=f"reference probes not found at {TESTDATA}")
def test_probe_corpus_is_all_there():
    counts = {
        kind: len(list(TESTDATA.glob(f"{kind}/**/*.json"))) for kind in ("inclusion", "consistency")
    }
    assert counts == {"inclusion": 98, "consistency": 98}


# --- exhaustive small trees ------------------------------------------------------------------


def _rejects(check, *args) -> bool:
    try:
        check(*args)
    except ProofError:
        return True
    return False


def _mutated_proofs(proof: list[bytes]):
    """Every way to damage a proof that the tests try: bit flips, truncation, extension."""
    for i, h in enumerate(proof):
        for bit in SAMPLE_BITS:
            yield (
                f"bit {bit} of element {i} flipped",
                [*proof[:i], flipped(h, bit), *proof[i + 1 :]],
            )
    if proof:
        yield "last element dropped", proof[:-1]
        yield "first element dropped", proof[1:]
    yield "zero hash appended", [*proof, bytes(32)]
    yield "zero hash prepended", [bytes(32), *proof]
    yield "root appended", [*proof, EMPTY_ROOT]


@pytest.mark.parametrize("size", range(1, 65))
def test_inclusion_exhaustive(size):
    store, hashes = SMALL_STORE, SMALL[:size]
    tree_root = naive_mth(hashes)
    assert store.roots[size] == tree_root
    for index in range(size):
        leaf = hashes[index]
        proof = inclusion_proof(index, size, store.node)
        assert proof == naive_path(index, hashes), f"PATH({index}, {size})"
        verify_inclusion(leaf, index, size, proof, tree_root)
        for what, bad in _mutated_proofs(proof):
            assert _rejects(verify_inclusion, leaf, index, size, bad, tree_root), (
                f"inclusion ({index}, {size}) accepted with {what}"
            )
        for other in range(size + 2):
            if other != index:
                assert _rejects(verify_inclusion, leaf, other, size, proof, tree_root), (
                    f"inclusion ({index}, {size}) accepted at index {other}"
                )
        for other in {1, size - 1, size + 1, 2 * size, 64} - {size}:
            if index < other and other > 0:
                other_root = naive_mth(SMALL[:other])
                assert _rejects(verify_inclusion, leaf, index, other, proof, other_root), (
                    f"inclusion ({index}, {size}) accepted for size {other}"
                )
        for bit in SAMPLE_BITS:
            assert _rejects(verify_inclusion, leaf, index, size, proof, flipped(tree_root, bit))
            assert _rejects(verify_inclusion, flipped(leaf, bit), index, size, proof, tree_root)


@pytest.mark.parametrize("size2", range(1, 65))
def test_consistency_exhaustive(size2):
    store = SMALL_STORE
    root2 = naive_mth(SMALL[:size2])
    for size1 in range(1, size2 + 1):
        root1 = naive_mth(SMALL[:size1])
        proof = consistency_proof(size1, size2, store.node)
        assert proof == naive_subproof(size1, SMALL[:size2], True), f"PROOF({size1}, {size2})"
        verify_consistency(size1, size2, proof, root1, root2)
        where = f"consistency {size1} -> {size2}"
        for what, bad in _mutated_proofs(proof):
            assert _rejects(verify_consistency, size1, size2, bad, root1, root2), (
                f"{where} accepted with {what}"
            )
        for other in {size1 - 1, size1 + 1, size2 - size1, 1} - {size1, 0}:
            if other <= size2:
                other_root = naive_mth(SMALL[:other])
                assert _rejects(verify_consistency, other, size2, proof, other_root, root2), (
                    f"{where} accepted from size {other}"
                )
        for other in {size2 - 1, size2 + 1, 2 * size2} - {size2}:
            if other >= size1 and other <= 64:
                other_root = naive_mth(SMALL[:other])
                assert _rejects(verify_consistency, size1, other, proof, root1, other_root), (
                    f"{where} accepted to size {other}"
                )
        for bit in SAMPLE_BITS:
            assert _rejects(verify_consistency, size1, size2, proof, flipped(root1, bit), root2)
            assert _rejects(verify_consistency, size1, size2, proof, root1, flipped(root2, bit))


# --- incremental state -------------------------------------------------------------------------


def test_append_leaf_agrees_with_root_up_to_200():
    hashes = hashes_for(200)
    store = Store(hashes)
    for size in range(201):
        assert store.roots[size] == root(hashes[:size]) == naive_mth(hashes[:size]), size
        assert root_at(size, store.node) == store.roots[size], size


def test_append_leaf_returns_every_new_perfect_subtree():
    border, created = append_leaf([], 0, SMALL[0])
    assert (border, created) == ([SMALL[0]], [(0, 0, SMALL[0])])
    border7 = [naive_mth(SMALL[:4]), naive_mth(SMALL[4:6]), SMALL[6]]
    border, created = append_leaf(border7, 7, SMALL[7])
    assert border == [naive_mth(SMALL[:8])]
    assert created == [
        (0, 7, SMALL[7]),
        (1, 3, naive_mth(SMALL[6:8])),
        (2, 1, naive_mth(SMALL[4:8])),
        (3, 0, naive_mth(SMALL[:8])),
    ]
    for (level, index), value in SMALL_STORE.nodes.items():
        assert value == naive_mth(SMALL[index << level : (index + 1) << level])


def test_store_proofs_match_the_naive_reference_on_bigger_trees():
    hashes = hashes_for(1100)
    store = Store(hashes)
    rng = random.Random(6962)
    for _ in range(40):
        size2 = rng.randint(65, 1100)
        size1 = rng.randint(1, size2)
        index = rng.randrange(size2)
        assert inclusion_proof(index, size2, store.node) == naive_path(index, hashes[:size2])
        assert consistency_proof(size1, size2, store.node) == naive_subproof(
            size1, hashes[:size2], True
        )


@pytest.mark.parametrize("size", [2**20 - 1, 2**20, 2**20 + 1, 10**9 + 7, 2**40 - 3])
def test_proofs_use_logarithmic_lookups(size):
    lookups = 0

    def node(level: int, index: int) -> bytes:  # any hash will do: only the count matters
        nonlocal lookups
        assert (index + 1) << level <= size, "lookup of a subtree that is not complete"
        lookups += 1
        return hashlib.sha256(f"{level}/{index}".encode()).digest()

    bound = 2 * size.bit_length() + 2
    for index in (0, size // 3, size - 2, size - 1):
        lookups = 0
        assert len(inclusion_proof(index, size, node)) <= size.bit_length()
        assert lookups <= bound, f"inclusion proof at {index} took {lookups} lookups"
    for size1 in (1, size // 2 + 1, size - 1):
        lookups = 0
        consistency_proof(size1, size, node)
        assert lookups <= bound, f"consistency proof from {size1} took {lookups} lookups"
    lookups = 0
    root_at(size, node)
    assert lookups == size.bit_count()


# --- corner cases and malformed input --------------------------------------------------------


def test_consistency_from_the_empty_tree():
    store = SMALL_STORE
    assert consistency_proof(0, 5, store.node) == []
    verify_consistency(0, 5, [], EMPTY_ROOT, store.roots[5])
    verify_consistency(0, 0, [], EMPTY_ROOT, EMPTY_ROOT)
    with pytest.raises(ProofError, match="empty tree"):
        verify_consistency(0, 5, [], store.roots[1], store.roots[5])
    with pytest.raises(ProofError, match="must be empty"):
        verify_consistency(0, 5, [store.roots[5]], EMPTY_ROOT, store.roots[5])


def test_equal_sizes_need_an_empty_proof_and_equal_roots():
    roots = SMALL_STORE.roots
    assert consistency_proof(7, 7, SMALL_STORE.node) == []
    verify_consistency(7, 7, [], roots[7], roots[7])
    with pytest.raises(ProofError, match="different roots"):
        verify_consistency(7, 7, [], roots[7], roots[6])
    with pytest.raises(ProofError, match="must be empty"):
        verify_consistency(7, 7, [roots[7]], roots[7], roots[7])


GOOD = SMALL[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((GOOD, 0, 0, [], GOOD), "not below tree size"),
        ((GOOD, 1, 1, [], GOOD), "not below tree size"),
        ((GOOD, -1, 1, [], GOOD), "non-negative"),
        ((GOOD, True, 2, [GOOD], GOOD), "non-negative integer"),
        ((GOOD, 0, 1.0, [], GOOD), "non-negative integer"),
        ((GOOD[:31], 0, 1, [], GOOD), "leaf hash must be 32 bytes"),
        ((GOOD.hex(), 0, 1, [], GOOD), "leaf hash must be 32 bytes"),
        ((GOOD, 0, 1, [], GOOD + b"\x00"), "root must be 32 bytes"),
        ((GOOD, 0, 2, [GOOD[:16]], GOOD), "proof hash 0"),
        ((GOOD, 0, 2, GOOD, GOOD), "list of hashes"),
        ((GOOD, 0, 2, None, GOOD), "list of hashes"),
    ],
)
def test_verify_inclusion_rejects_malformed_input(args, message):
    with pytest.raises(ProofError, match=message):
        verify_inclusion(*args)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((5, 4, [], GOOD, GOOD), "cannot shrink"),
        ((-1, 4, [], GOOD, GOOD), "non-negative"),
        ((1, 2, [GOOD], GOOD, "x" * 32), "root2 must be bytes"),
        ((1, 2, [GOOD], GOOD[:31], GOOD), "root1 must be 32 bytes"),
        ((3, 4, [], GOOD, GOOD), "empty consistency proof"),
        ((3, 4, [GOOD, b""], GOOD, GOOD), "proof hash 1"),
        ((3, 4, (GOOD for _ in range(3)), GOOD, GOOD), "list of hashes"),
    ],
)
def test_verify_consistency_rejects_malformed_input(args, message):
    with pytest.raises(ProofError, match=message):
        verify_consistency(*args)


def test_generators_validate_their_arguments():
    node = SMALL_STORE.node
    with pytest.raises(ProofError, match="not below tree size"):
        inclusion_proof(5, 5, node)
    with pytest.raises(ProofError, match="larger than size2"):
        consistency_proof(6, 5, node)
    with pytest.raises(ProofError, match="non-negative"):
        root_at(-1, node)
    with pytest.raises(ProofError, match="border nodes"):
        append_leaf([GOOD], 3, GOOD)
    with pytest.raises(ProofError, match="leaf hash"):
        append_leaf([], 0, b"short")
    with pytest.raises(ProofError, match="32 bytes"):
        root([GOOD, b"short"])
