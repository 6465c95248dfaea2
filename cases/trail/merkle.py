"""RFC 6962 / RFC 9162 Merkle tree: hashing, proof verification, and incremental state.

Stored state is a set of *perfect subtree* hashes addressed (level, index): the node covering
leaves [index * 2**level, (index + 1) * 2**level); level 0 is the leaf hash itself. A node never
changes once its subtree is full, so the store is append-only. `append_leaf` produces the new
nodes from the tree's compact range (its border); proofs and old roots are computed from
O(log n) node lookups, never from the whole tree.

Verification follows RFC 9162 sections 2.1.3.2 and 2.1.4.2 and fails closed: anything
malformed raises `ProofError`, as does a proof that does not check out.
"""

import hashlib
from collections.abc import Callable, Sequence

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "NodeLookup",
    "ProofError",
    "append_leaf",
    "compact_range",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root",
    "root_at",
    "root_from_border",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

# node(level, index) -> hash of a stored perfect subtree.
NodeLookup = Callable[[int, int], bytes]

_sha256 = hashlib.sha256


class ProofError(ValueError):
    """A proof, a tree argument or a hash is invalid."""


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data): the domain byte keeps a leaf from passing for an inner node."""
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return _sha256(b"\x01" + left + right).digest()


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH of a list of leaf hashes; the empty tree's root is SHA-256 of nothing."""
    level = [_hash(h, "leaf hash") for h in leaf_hashes]
    if not level:
        return EMPTY_ROOT
    # Pairing bottom-up and lifting an odd last node unchanged builds exactly the RFC's
    # "largest power of two smaller than n" split, without recursion.
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


# --- verification (RFC 9162 2.1.3.2 and 2.1.4.2) ---------------------------------------------


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that `leaf_hash` is leaf `index` (0-based) of the tree of `size` with `root`."""
    _count(index, "index")
    _count(size, "tree size")
    if index >= size:
        raise ProofError(f"leaf index {index} is not below tree size {size}")
    result = _hash(leaf_hash, "leaf hash")
    expected = _hash(root, "root")
    fn, sn = index, size - 1
    for p in _proof(proof):
        if sn == 0:
            raise ProofError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            result = node_hash(p, result)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            result = node_hash(result, p)
        fn, sn = fn >> 1, sn >> 1
    if sn:
        raise ProofError("inclusion proof is too short")
    if result != expected:
        raise ProofError("inclusion proof does not lead to the root")


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Check that the tree (size1, root1) is a prefix of the tree (size2, root2).

    Corner cases, as pinned by the transparency-dev probes: the empty tree is a prefix of
    every tree (empty proof, and root1 must be the empty root); equal sizes need an empty proof
    and identical roots, compared as given since no hashing takes place.
    """
    _count(size1, "size1")
    _count(size2, "size2")
    hashes = _proof(proof)
    for value, name in ((root1, "root1"), (root2, "root2")):
        if type(value) is not bytes:
            raise ProofError(f"{name} must be bytes")
    if size1 > size2:
        raise ProofError(f"size1 {size1} is larger than size2 {size2}: a log cannot shrink")
    if (size1 == 0 or size1 == size2) and hashes:
        raise ProofError(f"a consistency proof from size {size1} to {size2} must be empty")
    if size1 == 0:
        if root1 != EMPTY_ROOT:
            raise ProofError("root1 is not the root of the empty tree")
        if (size2 == 0 and root2 != root1) or (size2 > 0 and len(root2) != HASH_SIZE):
            raise ProofError("root2 is not a valid root")
        return
    if size1 == size2:
        if root1 != root2:
            raise ProofError(f"different roots for the same tree size {size1}")
        return
    _hash(root1, "root1")
    _hash(root2, "root2")
    _chain_consistency(size1, size2, hashes, root1, root2)


def _chain_consistency(
    size1: int, size2: int, hashes: list[bytes], root1: bytes, root2: bytes
) -> None:
    if not hashes:
        raise ProofError("empty consistency proof")
    if size1 & (size1 - 1) == 0:
        # A power-of-two old tree is itself a node of the new one: its root seeds the chain.
        hashes = [root1, *hashes]
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    first = second = hashes[0]
    for c in hashes[1:]:
        if sn == 0:
            raise ProofError("consistency proof is too long")
        if fn & 1 or fn == sn:
            first, second = node_hash(c, first), node_hash(c, second)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            second = node_hash(second, c)
        fn, sn = fn >> 1, sn >> 1
    if sn:
        raise ProofError("consistency proof is too short")
    if first != root1:
        raise ProofError(f"consistency proof does not lead to the root at size {size1}")
    if second != root2:
        raise ProofError(f"consistency proof does not lead to the root at size {size2}")


def _count(value: object, name: str) -> int:
    # bool is an int subclass; True is not a tree size.
    if type(value) is not int or value < 0:
        raise ProofError(f"{name} must be a non-negative integer, not {value!r}")
    return value


def _hash(value: object, name: str) -> bytes:
    if type(value) is not bytes or len(value) != HASH_SIZE:
        raise ProofError(f"{name} must be {HASH_SIZE} bytes")
    return value


def _proof(proof: object) -> list[bytes]:
    if not isinstance(proof, list | tuple):
        raise ProofError("a proof is a list of hashes")
    return [_hash(h, f"proof hash {i}") for i, h in enumerate(proof)]


# --- incremental state and proofs from stored nodes ------------------------------------------


def append_leaf(
    border: Sequence[bytes], size: int, leaf: bytes
) -> tuple[list[bytes], list[tuple[int, int, bytes]]]:
    """Append the leaf hash `leaf` to a tree of `size` leaves whose compact range is `border`.

    `border` holds the roots of the tree's perfect subtrees, biggest first, one per set bit of
    `size`. Returns the new border and the nodes this append completes, as (level, index, hash),
    starting with (0, size, leaf). O(log n) hashes at most, amortised O(1).
    """
    _count(size, "tree size")
    _hash(leaf, "leaf hash")
    if len(border) != size.bit_count():
        raise ProofError(f"a tree of {size} leaves has {size.bit_count()} border nodes")
    new_border = [_hash(h, "border hash") for h in border]
    created = [(0, size, leaf)]
    level, index, current = 0, size, leaf
    # Each trailing 1-bit of the old size is a perfect subtree the new node now pairs with.
    while index & 1:
        current = node_hash(new_border.pop(), current)
        level, index = level + 1, index >> 1
        created.append((level, index, current))
    new_border.append(current)
    return new_border, created


def root_from_border(border: Sequence[bytes]) -> bytes:
    """MTH of a tree from its compact range (fold right to left)."""
    if not border:
        return EMPTY_ROOT
    result = border[-1]
    for left in reversed(border[:-1]):
        result = node_hash(left, result)
    return result


def compact_range(size: int, node: NodeLookup) -> list[bytes]:
    """The border of the first `size` leaves, from stored perfect subtrees (O(log n) lookups)."""
    return _pieces(0, _count(size, "tree size"), node)


def root_at(size: int, node: NodeLookup) -> bytes:
    """Root of the first `size` leaves, from stored perfect subtrees (O(log n) lookups)."""
    return _range_hash(0, _count(size, "tree size"), node)


def inclusion_proof(index: int, size: int, node: NodeLookup) -> list[bytes]:
    """RFC 9162 PATH(index, D[size]), leaf-side first."""
    _count(index, "index")
    _count(size, "tree size")
    if index >= size:
        raise ProofError(f"leaf index {index} is not below tree size {size}")
    path: list[bytes] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            path.append(_range_hash(lo + k, hi, node))
            hi = lo + k
        else:
            path.append(_range_hash(lo, lo + k, node))
            lo += k
    path.reverse()
    return path


def consistency_proof(size1: int, size2: int, node: NodeLookup) -> list[bytes]:
    """RFC 9162 PROOF(size1, D[size2]); empty when size1 is 0 or equals size2."""
    _count(size1, "size1")
    _count(size2, "size2")
    if size1 > size2:
        raise ProofError(f"size1 {size1} is larger than size2 {size2}")
    if size1 == 0:
        return []
    path: list[bytes] = []
    lo, hi = 0, size2
    # `whole` is SUBPROOF's flag b: true while the old tree's root is still the verifier's own.
    whole = True
    while size1 - lo != hi - lo:
        k = _split(hi - lo)
        if size1 - lo <= k:
            path.append(_range_hash(lo + k, hi, node))
            hi = lo + k
        else:
            path.append(_range_hash(lo, lo + k, node))
            lo += k
            whole = False
    if not whole:
        path.append(_range_hash(lo, hi, node))
    path.reverse()
    return path


def _split(n: int) -> int:
    """Largest power of two strictly below n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def _range_hash(start: int, end: int, node: NodeLookup) -> bytes:
    """MTH of leaves [start, end), a subtree of the RFC's shape: start is a multiple of a power
    of two >= end - start, so only its right edge can be incomplete."""
    return root_from_border(_pieces(start, end, node))


def _pieces(start: int, end: int, node: NodeLookup) -> list[bytes]:
    """The perfect subtrees that make up leaves [start, end) (shaped as for _range_hash), biggest
    first: the border of that range."""
    pieces = []
    while start < end:
        level = (end - start).bit_length() - 1
        pieces.append(node(level, start >> level))
        start += 1 << level
    return pieces
