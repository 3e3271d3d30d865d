"""PeopleEstimator track life cycle (fast: toy SMPL-format body, hand-made 'images').

Each 'image' is a 1 x N strip of pixels, each pixel a sampled body-surface point: enough to
drive ids, DensePose aggregation, tracking and fitting without a renderer.
"""
from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("smplx", reason="SMPL support needs the smplx package")

from helpers_bodies import toy_smpl_arrays  # noqa: E402

from hamst3r_ros.human.body_fit import BodyFitter, FitConfig  # noqa: E402
from hamst3r_ros.body.fit_interface import SmplFitBody  # noqa: E402
from hamst3r_ros.human.people import PeopleConfig, PeopleEstimator, colour_histogram  # noqa: E402
from hamst3r_ros.human.tracking import PersonTracker, TrackerConfig  # noqa: E402
from hamst3r_ros.types import PairPrediction, TrackState  # noqa: E402

N = 300  # pixels per person per image
NS = 100_000_000  # 10 Hz


@pytest.fixture(scope="module")
def body():
    return SmplFitBody(toy_smpl_arrays())


def _frame(body, rng, positions, num_images=2):
    """Pairs, points and images for people standing at ``positions`` (dict gt id -> xyz),
    everyone seen by every image, all ordered pairs decoded."""
    everywhere = {g: tuple(range(num_images)) for g in positions}
    all_pairs = [(i, j) for i in range(num_images) for j in range(num_images) if i != j]
    return _sparse_frame(body, rng, positions, everywhere, all_pairs, with_images=True)


def test_lifecycle_tentative_tracked_lost_back_removed(body):
    rng = np.random.default_rng(0)
    est = PeopleEstimator(BodyFitter(body, FitConfig(cold_iterations=60, warm_iterations=10, cpu_threads=1)),
                          PersonTracker(TrackerConfig(confirm_hits=2, lost_timeout_s=0.35)), PeopleConfig(fit_after_sets=0))
    a, b = np.array([0.0, 0.0, 1.0]), np.array([3.0, 0.0, 1.0])
    states = []
    for k in range(3):  # both people walk +x at 1 m/s
        pairs, pts, img = _frame(body, rng, {1: a + [0.1 * k, 0, 0], 2: b + [0.1 * k, 0, 0]})
        res = est.update(pairs, pts, k * NS, images=img)
        states.append({h.track_id: h.state for h in res.humans})
    assert states[0] == {1: TrackState.TENTATIVE, 2: TrackState.TENTATIVE}
    assert states[2] == {1: TrackState.TRACKED, 2: TrackState.TRACKED}
    # Track labels on the pixels follow the people.
    tid_of = {g: res.labels[0][0, s * N] for s, g in enumerate((1, 2))}
    assert sorted(tid_of.values()) == [1, 2]
    h1 = next(h for h in res.humans if h.track_id == tid_of[1])
    np.testing.assert_allclose(h1.velocity, [1.0, 0.0, 0.0], atol=0.25)
    np.testing.assert_allclose(h1.T_fixed_root[:3, 3], a + [0.2, 0, 0], atol=0.05)
    # Person 2 leaves: LOST (last fit repeated, no points), person 1 goes on.
    pairs, pts, img = _frame(body, rng, {1: a + [0.3, 0, 0]})
    res = est.update(pairs, pts, 3 * NS, images=img)
    by = {h.track_id: h for h in res.humans}
    assert by[tid_of[2]].state == TrackState.LOST and by[tid_of[2]].num_points == 0
    assert by[tid_of[1]].state == TrackState.TRACKED and by[tid_of[1]].num_points > 0
    # Person 2 comes back 0.5 m further on within the timeout: same id.
    pairs, pts, img = _frame(body, rng, {1: a + [0.4, 0, 0], 2: b + [0.8, 0, 0]})
    res = est.update(pairs, pts, 4 * NS, images=img)
    assert {h.track_id: h.state for h in res.humans} == {tid_of[1]: TrackState.TRACKED, tid_of[2]: TrackState.TRACKED}
    # Person 2 leaves for good: REMOVED is reported once, then nothing.
    seen = []
    for k in range(5, 11):
        pairs, pts, img = _frame(body, rng, {1: a + [0.1 * k, 0, 0]})
        seen.append({h.track_id: h.state for h in est.update(pairs, pts, k * NS, images=img).humans})
    assert sum(s.get(tid_of[2]) == TrackState.REMOVED for s in seen) == 1
    assert tid_of[2] not in seen[-1] and seen[-1][tid_of[1]] == TrackState.TRACKED


def test_colour_histogram_is_normalised_and_discriminative():
    red = colour_histogram(np.tile([[250, 10, 10]], (50, 1)))
    blue = colour_histogram(np.tile([[10, 10, 250]], (50, 1)))
    assert red.shape == (64,) and red.sum() == pytest.approx(1.0)
    assert red @ blue == 0.0 and red @ red == pytest.approx(1.0)


def _sparse_frame(body, rng, positions, visible, pair_list, with_images=False):
    """Pairs and points (and, ``with_images``, RGB images where each person wears their own
    colour) for people standing at ``positions`` (dict gt id -> xyz); person g appears only
    in images ``visible[g]`` and only the pairs of ``pair_list`` exist."""
    with torch.no_grad():
        v, _, _ = body.pose_body(torch.zeros(1, body.num_shape), torch.zeros(1, 23, 3))
    v = v[0].numpy()
    ids = sorted(positions)
    W = N * max(len(ids), 1)
    imgs = sorted({k for g in ids for k in visible[g]} | {k for p in pair_list for k in p})
    img = {k: np.zeros((1, W, 3), np.uint8) for k in imgs}
    pts = {k: np.full((1, W, 3), np.nan, np.float32) for k in imgs}
    dp = {k: np.zeros((1, W, 3), np.float32) for k in imgs}
    lab = {k: np.zeros((1, W), np.int32) for k in imgs}
    for s, g in enumerate(ids):
        for k in visible[g]:
            sel = rng.choice(len(v), N)
            cols = slice(s * N, (s + 1) * N)
            pts[k][0, cols] = v[sel] + positions[g]
            dp[k][0, cols] = body.template_coords[sel]
            lab[k][0, cols] = g
            img[k][0, cols] = [60 * g, 200 - 50 * g, 90]
    ones = np.ones((1, W), np.float32)
    pairs = []
    for i, j in pair_list:
        perm = rng.permutation(4)
        inst = {q: np.zeros((4, 1, W), np.float32) for q in (i, j)}
        score = np.full(4, 0.05, np.float32)
        for s, g in enumerate(ids):
            if i in visible[g] or j in visible[g]:
                score[perm[s]] = 0.9
                for q in (i, j):
                    inst[q][perm[s]] = (lab[q] == g) * 0.9
        pairs.append(PairPrediction(i=i, j=j, pts_i=pts[i], pts_j=pts[j], conf_i=ones, conf_j=ones,
                                    inst_i=inst[i], inst_j=inst[j], inst_score=score,
                                    dp_i=dp[i], dp_j=dp[j], body_i=ones, body_j=ones))
    return (pairs, pts, img) if with_images else (pairs, pts)


def test_sparse_pair_graph_split_is_merged_in_3d(body):
    from hamst3r_ros.human.identities import unify_instance_ids

    rng = np.random.default_rng(5)
    # Person 1 is seen by images 0 and 2 only; the pair graph is the chain 0-1-2, so no pair
    # image links its two views in 2D. Person 2 is everywhere.
    positions = {1: np.array([0.0, 0.0, 1.0]), 2: np.array([2.0, 1.0, 1.0])}
    visible = {1: (0, 2), 2: (0, 1, 2)}
    chain = [(0, 1), (1, 0), (1, 2), (2, 1)]
    pairs, pts = _sparse_frame(body, rng, positions, visible, chain)
    assert len(unify_instance_ids(pairs).person_ids) == 3  # 2D alone splits person 1
    est = PeopleEstimator(BodyFitter(body, FitConfig(cold_iterations=30, cpu_threads=1)), config=PeopleConfig(fit_after_sets=0))
    res = est.update(pairs, pts, 0)
    assert len(res.identities.person_ids) == 2 and len(res.humans) == 2
    labels = {k: set(np.unique(lab[lab > 0])) for k, lab in res.labels.items()}
    assert labels[0] == labels[2] == {h.track_id for h in res.humans}
    # Two different people shoulder to shoulder, segmented side by side by one pair: never
    # merged (together they are wider than one body).
    near = {1: np.array([0.0, 0.0, 1.0]), 2: np.array([0.6, 0.0, 1.0])}
    pairs, pts = _sparse_frame(body, rng, near, {1: (0, 1), 2: (0, 1)}, [(0, 1), (1, 0)])
    res = PeopleEstimator(BodyFitter(body, FitConfig(cold_iterations=5, cpu_threads=1))).update(pairs, pts, 0)
    assert len(res.identities.person_ids) == 2


def test_a_person_is_fitted_from_their_second_frame_set(body):
    # Default fit_after_sets=1: a one-set ghost costs no fit; a real person is published
    # from the second frame set on, and stays fitted (warm) after that.
    rng = np.random.default_rng(7)
    est = PeopleEstimator(BodyFitter(body, FitConfig(cold_iterations=20, warm_iterations=5, cpu_threads=1)))
    a, ghost = np.array([0.0, 0.0, 1.0]), np.array([3.0, 2.0, 1.0])
    pairs, pts, img = _frame(body, rng, {1: a, 2: ghost})
    first = est.update(pairs, pts, 0, images=img)
    assert first.humans == [] and first.fits == {} and len(first.identities.person_ids) == 2
    fitted = []
    for k in (1, 2):
        pairs, pts, img = _frame(body, rng, {1: a + [0.05 * k, 0, 0]})
        res = est.update(pairs, pts, k * NS, images=img)
        fitted.append(sorted((f.warm for f in res.fits.values())))
        assert len(res.humans) == 1
    assert fitted == [[False], [True]]  # cold once the track exists, warm afterwards


def test_bodies_between_fits_follow_their_points(body):
    # fit_every=2: sets 0 and 2 fit (cold, then warm); set 1 publishes set 0's body moved by
    # the shift of the person's points, with the pose held and no points claimed.
    rng = np.random.default_rng(3)
    est = PeopleEstimator(BodyFitter(body, FitConfig(cold_iterations=40, warm_iterations=10, cpu_threads=1)),
                          config=PeopleConfig(fit_after_sets=0, fit_every=2))
    a = np.array([0.0, 0.0, 1.0])
    res = []
    for k in range(3):
        pairs, pts, img = _frame(body, rng, {1: a + [0.3 * k, 0, 0]})
        res.append(est.update(pairs, pts, k * NS, images=img))
    assert [[f.warm for f in r.fits.values()] for r in res] == [[False], [], [True]]
    h0, h1, h2 = (r.humans[0] for r in res)
    assert h0.track_id == h1.track_id == h2.track_id
    assert h0.num_points > 0 and h1.num_points == 0 and h2.num_points > 0
    shift = h1.T_fixed_root[:3, 3] - h0.T_fixed_root[:3, 3]
    np.testing.assert_allclose(shift, [0.3, 0.0, 0.0], atol=0.05)
    np.testing.assert_allclose(h1.joints, h0.joints + shift, atol=1e-9)
    np.testing.assert_allclose(h1.joint_rotations, h0.joint_rotations)
    np.testing.assert_allclose(h1.T_fixed_root[:3, :3], h0.T_fixed_root[:3, :3])
    np.testing.assert_allclose(h2.T_fixed_root[:3, 3], a + [0.6, 0, 0], atol=0.05)


def test_pair_agreement_counts_the_pairs_that_found_a_person():
    from types import SimpleNamespace

    from hamst3r_ros.human.identities import CrossViewIdentities
    from hamst3r_ros.human.people import pair_agreement

    pairs = [SimpleNamespace(i=i, j=j) for i, j in ((0, 1), (1, 0), (1, 2), (2, 1))]
    ids = CrossViewIdentities(
        assignment={(0, 0): 1, (1, 2): 1, (2, 0): 1, (3, 1): 1, (0, 1): 2, (2, 3): 3},
        labels={0: np.array([[1, 2]]), 1: np.array([[1, 0]]), 2: np.array([[1, 3]])},
        scores={1: 0.9, 2: 0.9, 3: 0.9}, support={1: 4, 2: 1, 3: 1})
    # 1: every pair; 2: seen in image 0 only (pairs 0 and 1 could see it), found by one;
    # 3: seen in image 2 (pairs 2 and 3), found by one.
    assert pair_agreement(pairs, ids) == {1: 1.0, 2: 0.5, 3: 0.5}


def _fragments(offset, same_image):
    """Frame-set persons 1 and 2: body-sized point blobs ``offset`` metres apart along x,
    both found by pair 0 (queries 0 and 1); person 1 labelled in image 0, person 2 in
    image 1, or also in image 0 when ``same_image``."""
    from hamst3r_ros.human.densepose import PersonPoints
    from hamst3r_ros.human.identities import CrossViewIdentities

    rng = np.random.default_rng(7)
    blob = rng.normal(0, [0.15, 0.15, 0.4], (400, 3)).astype(np.float32) + [2.0, 0.0, 1.0]
    people = {p: PersonPoints(p, blob + [offset * (p - 1), 0, 0], np.zeros_like(blob), np.ones(len(blob), np.float32))
              for p in (1, 2)}
    lab0, lab1 = np.zeros((4, 8), np.int32), np.zeros((4, 8), np.int32)
    lab0[:, :3] = 1
    lab1[:, 4:] = 2
    if same_image:
        lab0[:, 5:] = 2
    ids = CrossViewIdentities(assignment={(0, 0): 1, (0, 1): 2}, labels={0: lab0, 1: lab1},
                              scores={1: 0.9, 2: 0.8}, support={1: 1, 2: 1})
    return ids, people


def test_fragments_seen_by_different_cameras_are_merged_within_the_radius():
    from hamst3r_ros.human.people import merge_in_3d

    # One person, one camera's fragment 0.5 m off along its rays (a depth error), and the
    # pair that saw both views segmented each view with a different query.
    ids, people = _fragments(0.5, same_image=False)
    assert merge_in_3d(ids, people, merge_distance=0.15, merge_radius=0.6)
    assert ids.person_ids == [1] and ids.support == {1: 2}
    assert set(ids.assignment.values()) == {1} and ids.labels[1].max() == 1
    # The rule off (radius 0): the touching rule alone does not join them (0.5 m apart,
    # and one pair segmented both).
    ids, people = _fragments(0.5, same_image=False)
    assert not merge_in_3d(ids, people, merge_distance=0.15, merge_radius=0.0)
    # Farther apart than the radius: two people.
    ids, people = _fragments(0.8, same_image=False)
    assert not merge_in_3d(ids, people, merge_distance=0.15, merge_radius=0.6)
    # Both in one image: two people, however close.
    ids, people = _fragments(0.3, same_image=True)
    assert not merge_in_3d(ids, people, merge_distance=0.15, merge_radius=0.6)
    assert ids.person_ids == [1, 2]


# --- issue 17: a person must be one body in 3D, identities persist, bodies are plausible ---

HALF_S = 500_000_000  # frame sets at 2 Hz, as the demo


def test_a_phantom_on_a_wall_seen_by_one_pair_is_rejected(body):
    rng = np.random.default_rng(11)
    a = np.array([0.0, 0.0, 1.0])
    pairs, pts = _sparse_frame(body, rng, {1: a, 2: np.array([3.0, 0.0, 1.0])}, {1: (0, 1), 2: (0,)},
                               [(0, 1), (1, 0)])
    # "Person 2" is a patch of wall 3 m wide and 1.5 m tall at x = 3 m, segmented in image 0.
    cols = slice(N, 2 * N)
    pts[0][0, cols] = np.stack([np.full(N, 3.0), rng.uniform(-1.5, 1.5, N), rng.uniform(0.2, 1.7, N)], 1)
    res = PeopleEstimator(BodyFitter(body, FitConfig(cold_iterations=20, cpu_threads=1)),
                          config=PeopleConfig(fit_after_sets=0)).update(pairs, pts, 0)
    assert len(res.humans) == 1 and np.linalg.norm(res.humans[0].T_fixed_root[:3, 3] - a) < 0.3
    assert sum(res.rejected.values()) == 1 and set(res.rejected) <= {"not_one_body", "too_wide"}
    assert not (res.labels[0][0, cols] > 0).any()  # the wall is background in the cloud too


def test_one_body_split_into_two_fragments_is_one_person(body):
    from hamst3r_ros.human.identities import unify_instance_ids

    rng = np.random.default_rng(12)
    pairs, pts, img = _frame(body, rng, {1: np.array([0.0, 0.0, 1.0]), 2: np.array([2.5, 0.0, 1.0])})
    # Pair (0, 1) segments person 1 as two queries, upper and lower body; pair (1, 0) whole.
    p = pairs[0]
    q = int(np.argmax([m[0, :N].mean() for m in p.inst_i]))  # the query of person 1
    free = next(k for k in range(len(p.inst_score)) if p.inst_score[k] < 0.5)
    upper = {v: pts[v][0, :, 2] > 1.0 for v in (p.i, p.j)}
    for view, inst in ((p.i, p.inst_i), (p.j, p.inst_j)):
        inst[free] = inst[q] * upper[view]
        inst[q] = inst[q] * ~upper[view]
    p.inst_score[free] = 0.9
    assert len(unify_instance_ids(pairs).person_ids) == 3  # 2D alone: two ids on one body
    res = PeopleEstimator(BodyFitter(body, FitConfig(cold_iterations=20, cpu_threads=1)),
                          config=PeopleConfig(fit_after_sets=0)).update(pairs, pts, 0, images=img)
    assert len(res.humans) == 2
    assert len(set(np.unique(res.labels[0][0, :N]))) == 1  # one track id over the whole body


def _walk(est, rng, frames, colour_of=None):
    """Run ``frames`` (a list of {gt id: xyz}) at 2 Hz; returns per set {gt id: track id}."""
    out = []
    for k, people in enumerate(frames):
        pairs, pts, img = _frame(body_of[0], rng, people)
        if colour_of:
            for v in img:
                for s, g in enumerate(sorted(people)):
                    img[v][0, s * N:(s + 1) * N] = colour_of[g]
        res = est.update(pairs, pts, k * HALF_S, images=img)
        tid = {g: int(res.labels[0][0, s * N]) for s, g in enumerate(sorted(people))}
        out.append(tid)
    return out


body_of: list = []


def test_a_person_occluded_for_3_sets_keeps_their_id(body):
    body_of[:] = [body]
    est = PeopleEstimator(BodyFitter(body, FitConfig(cold_iterations=20, warm_iterations=5, cpu_threads=1)))
    walk = [np.array([0.6 * k, 0.0, 1.0]) for k in range(10)]  # 1.2 m/s at 2 Hz
    other = np.array([0.0, 3.0, 1.0])
    frames = [{1: walk[k], 2: other} if k not in (3, 4, 5) else {2: other} for k in range(10)]
    ids = _walk(est, np.random.default_rng(13), frames)
    assert ids[6][1] == ids[2][1] == ids[9][1] and ids[2][1] != ids[2][2]


def test_who_leaves_while_another_enters_nearby_gets_a_new_id(body):
    body_of[:] = [body]
    est = PeopleEstimator(BodyFitter(body, FitConfig(cold_iterations=20, warm_iterations=5, cpu_threads=1)))
    a = np.array([0.0, 0.0, 1.0])
    colours = {1: (220, 30, 30), 3: (30, 30, 220)}  # red leaves, blue comes in where red was
    frames = [{1: a}] * 4 + [{3: a + [0.3, 0.0, 0.0]}] * 2
    ids = _walk(est, np.random.default_rng(14), frames, colours)
    assert ids[0][1] == ids[3][1] and ids[4][3] != ids[3][1]


def test_an_implausible_fit_is_published_without_a_body(body):
    rng = np.random.default_rng(15)
    a = np.array([0.0, 0.0, 1.0])
    est = PeopleEstimator(BodyFitter(body, FitConfig(cold_iterations=20, cpu_threads=1)),
                          config=PeopleConfig(fit_after_sets=0))
    pairs, pts, img = _frame(body, rng, {1: a})
    h, = est.update(pairs, pts, 0, images=img).humans
    assert np.isfinite(h.joints).all()
    # The toy body's skeleton is ~1.5 m: a range above it makes the next fit implausible.
    est.config = replace(est.config, body_height_range=(1.9, 2.4))
    pairs, pts, img = _frame(body, rng, {1: a})
    h2, = est.update(pairs, pts, HALF_S, images=img).humans
    assert h2.track_id == h.track_id
    assert np.isnan(h2.joints).all() and np.isnan(h2.joint_rotations).all()
    assert np.linalg.norm(h2.T_fixed_root[:3, 3] - a) < 0.5  # still there, at the centre of its points
    np.testing.assert_array_equal(h2.T_fixed_root[:3, :3], np.eye(3))


def test_what_never_fitted_a_plausible_body_is_not_published(body):
    rng = np.random.default_rng(16)
    a = np.array([0.0, 0.0, 1.0])
    cfg = PeopleConfig(fit_after_sets=0, body_height_range=(1.9, 2.4))  # every fit implausible
    est = PeopleEstimator(BodyFitter(body, FitConfig(cold_iterations=20, cpu_threads=1)), config=cfg)
    for k in range(3):  # the same thing, frame set after frame set
        pairs, pts, img = _frame(body, rng, {1: a})
        res = est.update(pairs, pts, k * HALF_S, images=img)
        assert res.humans == [] and res.rejected == {"no_body": 1}
        assert all((lab == 0).all() for lab in res.labels.values())  # its pixels are background
    shown = PeopleEstimator(BodyFitter(body, FitConfig(cold_iterations=20, cpu_threads=1)),
                            config=replace(cfg, min_plausible_fits=0.0))
    h, = shown.update(pairs, pts, 0, images=img).humans
    assert np.isnan(h.joints).all()


def test_a_track_whose_fits_are_mostly_implausible_is_no_longer_published(body):
    rng = np.random.default_rng(17)
    a = np.array([0.0, 0.0, 1.0])
    est = PeopleEstimator(BodyFitter(body, FitConfig(cold_iterations=20, warm_iterations=5, cpu_threads=1)),
                          config=PeopleConfig(fit_after_sets=0))
    shown = []
    for k in range(6):  # one plausible fit, then implausible ones (the wall patch of the note)
        if k == 1:
            est.config = replace(est.config, body_height_range=(1.9, 2.4))
        pairs, pts, img = _frame(body, rng, {1: a})
        res = est.update(pairs, pts, k * HALF_S, images=img)
        shown.append(len(res.humans))
    # 1/1 .. 1/4 plausible: shown (at least a quarter); 1/5, 1/6: hidden
    assert shown == [1, 1, 1, 1, 0, 0] and res.rejected.get("no_body") == 1


def test_a_tentative_person_not_seen_now_is_not_shown_where_they_were(body):
    rng = np.random.default_rng(18)
    a = np.array([0.0, 0.0, 1.0])
    est = PeopleEstimator(BodyFitter(body, FitConfig(cold_iterations=20, warm_iterations=5, cpu_threads=1)),
                          PersonTracker(TrackerConfig(confirm_hits=3, tentative_timeout_s=1.0)),
                          PeopleConfig(fit_after_sets=0))
    shown = []
    for k, people in enumerate([{1: a}, {}, {1: a + [0.1, 0.0, 0.0]}]):
        pairs, pts, img = _frame(body, rng, people)
        res = est.update(pairs, pts, k * HALF_S, images=img)
        shown.append([(h.track_id, h.state) for h in res.humans])
    assert shown[0] and shown[0][0][1] == TrackState.TENTATIVE
    assert shown[1] == []  # kept by the tracker, not shown at its old place
    assert shown[2] == [(shown[0][0][0], TrackState.TENTATIVE)]  # seen again: the same id


def test_a_detection_taken_for_a_missed_persons_outlier_is_counted_not_published(body):
    # A confirmed person's detection jumps 0.75 m sideways for one set (a misplaced segment,
    # beyond the tracker's gate at 10 Hz, within its outlier range): no new person, no crash
    # on the fitted outlier, counted in 'track_outlier', and the person goes on with their id.
    rng = np.random.default_rng(4)
    est = PeopleEstimator(BodyFitter(body, FitConfig(cold_iterations=60, warm_iterations=10, cpu_threads=1)),
                          PersonTracker(TrackerConfig(confirm_hits=2)), PeopleConfig(fit_after_sets=0))
    a = np.array([0.0, 0.0, 1.0])
    for k in range(3):
        res = est.update(*_frame(body, rng, {1: a})[:2], k * NS)
    (tid,) = [h.track_id for h in res.humans]
    res = est.update(*_frame(body, rng, {1: a + [0.0, 0.75, 0.0]})[:2], 3 * NS)
    assert res.rejected.get("track_outlier") == 1
    assert [(h.track_id, h.state) for h in res.humans] == [(tid, TrackState.LOST)]
    assert not res.labels[0].any()  # its pixels are background
    res = est.update(*_frame(body, rng, {1: a})[:2], 4 * NS)
    assert [(h.track_id, h.state) for h in res.humans] == [(tid, TrackState.TRACKED)]


@pytest.mark.parametrize("speed_rule", [0.5, 0.0])
def test_a_body_facing_away_from_where_its_person_walks_is_turned(body, speed_rule):
    # The body is fitted facing one way while its points walk the other way (as a weak
    # network's DensePose gets people front-to-back): published facing the walking direction
    # once its velocity is known, unless walk_heading_speed is 0.
    from hamst3r_ros.human.heading import body_facing

    up = np.array([0.0, 0.0, 1.0])
    rng = np.random.default_rng(21)
    est = PeopleEstimator(BodyFitter(body, FitConfig(cold_iterations=40, cpu_threads=1)),
                          config=PeopleConfig(fit_after_sets=0, walk_heading_speed=speed_rule))
    a = np.array([0.0, 0.0, 1.0])
    pairs, pts, img = _frame(body, rng, {1: a})
    h0, = est.update(pairs, pts, 0, images=img).humans
    face0 = body_facing(h0.joints, up)
    walk = -face0  # 0.15 m per 0.1 s: 1.5 m/s backwards
    for k in range(1, 4):
        pairs, pts, img = _frame(body, rng, {1: a + 0.15 * k * walk})
        h, = est.update(pairs, pts, k * NS, images=img).humans
    assert h.track_id == h0.track_id and np.linalg.norm(h.velocity[:2]) > 1.0
    facing = body_facing(h.joints, up)
    if speed_rule:
        assert facing @ walk > 0.9
        np.testing.assert_allclose(h.T_fixed_root[:3, 3], est._last_fit[h.track_id].T_fixed_root[:3, 3])  # pelvis kept
    else:
        assert facing @ face0 > 0.9
