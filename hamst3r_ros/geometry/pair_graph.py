"""Which ordered image pairs (i, j) to send through the network.

The network is run on both directions of every chosen unordered pair (as MASt3R does),
so every strategy returns symmetric lists of ordered pairs. The cost of everything
downstream (decoder, alignment, fusion) is linear in the number of pairs returned:
complete graphs grow as N^2, the sparse strategies as N.
"""
from __future__ import annotations

from typing import Iterable, Optional, Sequence

import numpy as np

STRATEGIES = ("auto", "complete", "reference", "sliding_window", "confidence")

#: Up to this many cameras, ``auto`` uses the complete graph.
COMPLETE_UP_TO = 8


def _both_directions(edges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    und = sorted({(min(a, b), max(a, b)) for a, b in edges if a != b})
    return [p for a, b in und for p in ((a, b), (b, a))]


def complete_pairs(n: int) -> list[tuple[int, int]]:
    """All ordered pairs: N (N - 1)."""
    return _both_directions((i, j) for i in range(n) for j in range(i + 1, n))


def reference_pairs(n: int, ref: int = 0) -> list[tuple[int, int]]:
    """Every view paired with one reference view: 2 (N - 1)."""
    if not 0 <= ref < max(n, 1):
        raise ValueError(f"reference view {ref} out of range for {n} cameras")
    return _both_directions((ref, k) for k in range(n) if k != ref)


def sliding_window_pairs(n: int, window: int = 2, cyclic: bool = True) -> list[tuple[int, int]]:
    """Each view with its ``window`` next neighbours (cameras ordered around the rig)."""
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    edges = []
    for i in range(n):
        for d in range(1, window + 1):
            j = i + d
            if j < n or (cyclic and n > 2):
                edges.append((i, j % n))
    return _both_directions(edges)


def confidence_pairs(scores: np.ndarray, k: int = 2) -> list[tuple[int, int]]:
    """Maximum spanning tree of ``scores`` plus each view's ``k`` best-scoring partners.

    Args:
        scores: (N, N) pair affinities (e.g. mean confidence or overlap of a previous
            alignment, or global-descriptor similarity); larger is better. Symmetrised.
        k: extra neighbours per view; the result has at most 2 N (k + 1) ordered pairs.
    """
    S = np.asarray(scores, dtype=np.float64)
    n = S.shape[0]
    if S.shape != (n, n):
        raise ValueError(f"scores must be a square (N, N) matrix, got {S.shape}")
    S = (S + S.T) / 2.0
    edges = list(maximum_spanning_tree(S))
    for i in range(n):
        order = [j for j in np.argsort(-S[i]) if j != i][:k]
        edges += [(i, int(j)) for j in order]
    return _both_directions(edges)


def maximum_spanning_tree(scores: np.ndarray, root: int = 0) -> list[tuple[int, int]]:
    """Prim's algorithm on a dense (N, N) score matrix; edges (parent, child) in the order
    they join the tree, starting from ``root`` (so parents always precede children).

    Pairs with score -inf are absent. Raises ValueError when the graph is disconnected.
    """
    S = np.asarray(scores, dtype=np.float64)
    n = S.shape[0]
    in_tree = np.zeros(n, bool)
    in_tree[root] = True
    best = S[root].copy()
    parent = np.full(n, root)
    edges = []
    for _ in range(n - 1):
        cand = np.where(in_tree, -np.inf, best)
        j = int(np.argmax(cand))
        if not np.isfinite(cand[j]):
            raise ValueError("pair graph is disconnected: some cameras share no pair with the others")
        edges.append((int(parent[j]), j))
        in_tree[j] = True
        upd = S[j] > best
        best = np.where(upd, S[j], best)
        parent = np.where(upd, j, parent)
    return edges


def is_connected(n: int, pairs: Sequence[tuple[int, int]]) -> bool:
    """True when the pairs connect all n views."""
    seen, stack = {0}, [0]
    adj: dict[int, set[int]] = {i: set() for i in range(n)}
    for a, b in pairs:
        adj[a].add(b)
        adj[b].add(a)
    while stack:
        for b in adj[stack.pop()]:
            if b not in seen:
                seen.add(b)
                stack.append(b)
    return len(seen) == n


def make_pairs(n: int, strategy: str = "auto", *, ref: int = 0, window: int = 2,
               scores: Optional[np.ndarray] = None, k: int = 2) -> list[tuple[int, int]]:
    """Ordered pairs for ``n`` cameras.

    ``auto``: complete up to COMPLETE_UP_TO cameras; beyond, ``confidence`` when scores
    are given, else a cyclic sliding window (as ``confidence`` without scores).
    """
    if n < 2:
        return []
    if strategy == "auto":
        if n <= COMPLETE_UP_TO:
            strategy = "complete"
        else:
            strategy = "confidence" if scores is not None else "sliding_window"
    if strategy == "complete":
        return complete_pairs(n)
    if strategy == "reference":
        return reference_pairs(n, ref)
    if strategy == "sliding_window":
        return sliding_window_pairs(n, window)
    if strategy == "confidence":
        # No scores yet (a rig's first frame set): a sliding window decodes the pairs whose
        # scores the next sets choose from.
        return sliding_window_pairs(n, window) if scores is None else confidence_pairs(scores, k)
    raise ValueError(f"unknown pair strategy {strategy!r}; expected one of {STRATEGIES}")
