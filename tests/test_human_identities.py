"""Cross-view identity unification: ids permuted between pairs come back as one id per person."""
import itertools

import numpy as np
import pytest

from hamst3r_ros.human.identities import unify_instance_ids
from hamst3r_ros.types import PairPrediction

H, W = 48, 64


def _gt_labels(rng, num_images, num_people):
    """Per image, a label map with each person as a filled disc (0 = background)."""
    labels = []
    for _ in range(num_images):
        lab = np.zeros((H, W), np.int32)
        vv, uu = np.mgrid[0:H, 0:W]
        for p in range(1, num_people + 1):
            cu, cv = rng.uniform(8 + (p - 1) * 18, 14 + (p - 1) * 18), rng.uniform(15, 33)
            lab[(uu - cu) ** 2 + (vv - cv) ** 2 < 7.0**2] = p
        labels.append(lab)
    return labels


def _pairs(rng, labels, num_people, queries=6, junk=True):
    zeros = np.zeros((H, W, 3), np.float32)
    ones = np.ones((H, W), np.float32)
    pairs = []
    for i, j in itertools.permutations(range(len(labels)), 2):
        perm = rng.permutation(queries)  # query slot of each person, different per pair
        inst = {v: np.clip(rng.normal(0.05, 0.05, (queries, H, W)), 0, 1).astype(np.float32)
                for v in (i, j)}
        score = np.full(queries, 0.02, np.float32)
        for p in range(1, num_people + 1):
            q = perm[p - 1]
            score[q] = rng.uniform(0.8, 1.0)
            for v in (i, j):
                inst[v][q][labels[v] == p] = rng.uniform(0.7, 1.0)
        if junk:  # a confident query on a background blob seen by this pair only
            q = perm[num_people]
            score[q] = 0.9
            inst[i][q][:5, :5] = 0.95
        pairs.append(PairPrediction(i=i, j=j, pts_i=zeros, pts_j=zeros, conf_i=ones, conf_j=ones,
                                    inst_i=inst[i], inst_j=inst[j], inst_score=score))
        pairs[-1]._perm = perm  # test bookkeeping: which query holds which person
    return pairs


@pytest.mark.parametrize("num_images,num_people", [(2, 1), (3, 2), (4, 3)])
def test_permuted_ids_recovered_one_per_person(num_images, num_people):
    rng = np.random.default_rng(num_images * 10 + num_people)
    labels = _gt_labels(rng, num_images, num_people)
    pairs = _pairs(rng, labels, num_people, junk=False)
    ids = unify_instance_ids(pairs)
    assert len(ids.person_ids) == num_people
    for p in range(1, num_people + 1):
        got = {ids.assignment[(k, int(pair._perm[p - 1]))] for k, pair in enumerate(pairs)}
        assert len(got) == 1, f"person {p} split into ids {got}"
    # Distinct people get distinct ids, and label maps agree with the ground truth.
    mapping = {p: ids.assignment[(0, int(pairs[0]._perm[p - 1]))] for p in range(1, num_people + 1)}
    assert len(set(mapping.values())) == num_people
    for img, lab in enumerate(labels):
        expected = np.zeros_like(lab)
        for p, pid in mapping.items():
            expected[lab == p] = pid
        assert (ids.labels[img] == expected).mean() > 0.99


def test_junk_query_seen_by_one_pair_stays_separate_and_low_scores_ignored():
    rng = np.random.default_rng(7)
    labels = _gt_labels(rng, 3, 2)
    pairs = _pairs(rng, labels, 2, junk=True)
    ids = unify_instance_ids(pairs)
    people = {p: {ids.assignment[(k, int(pair._perm[p - 1]))] for k, pair in enumerate(pairs)}
              for p in (1, 2)}
    assert all(len(v) == 1 for v in people.values())
    # Junk blobs (same corner in image i of every pair) link with each other, never with people.
    junk_ids = {ids.assignment[(k, int(pair._perm[2]))] for k, pair in enumerate(pairs)}
    assert not junk_ids & (people[1] | people[2])
    # No low-score query got an id.
    for k, pair in enumerate(pairs):
        for q in range(6):
            if pair.inst_score[q] < 0.5:
                assert (k, q) not in ids.assignment


def test_two_queries_of_one_pair_never_merge():
    # Pair A sees two people side by side in image 0; pair B sees them as one blob there
    # (IoU 0.5 with each). Linking B to both would merge A's two people: refused.
    zeros = np.zeros((H, W, 3), np.float32)
    ones = np.ones((H, W), np.float32)
    a0 = np.zeros((2, H, W), np.float32)
    a0[0, 10:30, 10:30] = 0.9
    a0[1, 10:30, 30:50] = 0.9
    b0 = np.zeros((1, H, W), np.float32)
    b0[0, 10:30, 10:50] = 0.9
    pa = PairPrediction(i=0, j=1, pts_i=zeros, pts_j=zeros, conf_i=ones, conf_j=ones,
                        inst_i=a0, inst_j=a0.copy(), inst_score=np.array([0.9, 0.9], np.float32))
    pb = PairPrediction(i=0, j=2, pts_i=zeros, pts_j=zeros, conf_i=ones, conf_j=ones,
                        inst_i=b0, inst_j=b0.copy(), inst_score=np.array([0.9], np.float32))
    ids = unify_instance_ids([pa, pb])
    assert ids.assignment[(0, 0)] != ids.assignment[(0, 1)]
    assert ids.assignment[(1, 0)] in (ids.assignment[(0, 0)], ids.assignment[(0, 1)])
    assert len(ids.person_ids) == 2


def test_bad_shapes_are_clear_errors():
    zeros = np.zeros((H, W, 3), np.float32)
    ones = np.ones((H, W), np.float32)
    pair = PairPrediction(i=0, j=1, pts_i=zeros, pts_j=zeros, conf_i=ones, conf_j=ones,
                          inst_i=np.zeros((3, H, W), np.float32), inst_j=np.zeros((3, H, W), np.float32),
                          inst_score=np.zeros(2, np.float32))
    with pytest.raises(ValueError, match="inst_score"):
        unify_instance_ids([pair])
