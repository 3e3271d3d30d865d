"""Person segments grouped by where known cameras' rays cross (human/ray_triangulation.py).

Scenes are built by hand: each camera's label map holds one block of pixels per segment, and
the block's points are a body's visible side (a vertical cylinder of radius 0.18 m, 1.7 m
tall) pushed along the camera's rays by a depth error, as the network does.
"""
import numpy as np
import pytest

from hamst3r_ros.human.identities import CrossViewIdentities
from hamst3r_ros.human.ray_triangulation import RayRules, ground_basis, ground_covariances, triangulate_people

UP = (0.0, 0.0, 1.0)
W = 60  # pixels per segment block row


def _body_side(camera: np.ndarray, centre_xy, rng, n: int = 300) -> np.ndarray:
    """(n, 3) points on the half of a body cylinder that faces the camera."""
    c = np.array([centre_xy[0], centre_xy[1], 0.0])
    to_cam = np.arctan2(camera[1] - c[1], camera[0] - c[0])
    a = to_cam + rng.uniform(-np.pi / 2, np.pi / 2, n)
    z = rng.uniform(0.0, 1.7, n)
    return np.stack([c[0] + 0.18 * np.cos(a), c[1] + 0.18 * np.sin(a), z], 1)


def _scene(cameras, segments, rng):
    """cameras: (K, 3) centres; segments: (image, pid, true centre xy, depth factor, n).
    Returns CrossViewIdentities (labels only + one node per segment) and points."""
    rows = {k: [] for k in range(len(cameras))}
    for image, pid, xy, factor, n in segments:
        pts = _body_side(cameras[image], xy, rng, n)
        pts = cameras[image] + factor * (pts - cameras[image])  # the network's depth error
        rows[image].append((pid, pts))
    ids = CrossViewIdentities()
    points = {}
    for k, segs in rows.items():
        n_pix = sum(len(p) for _, p in segs) + 40  # 40 background pixels
        h = int(np.ceil(n_pix / W))
        lab = np.zeros(h * W, np.int32)
        pts = np.full((h * W, 3), np.nan, np.float32)
        at = 0
        for pid, p in segs:
            lab[at:at + len(p)] = pid
            pts[at:at + len(p)] = p
            at += len(p)
        ids.labels[k] = lab.reshape(h, W)
        points[k] = pts.reshape(h, W, 3)
    pair_images = []
    for q, (image, pid, *_rest) in enumerate(segments):
        ids.assignment[(q, 0)] = pid
        ids.scores[pid] = 0.9
        ids.support[pid] = ids.support.get(pid, 0) + 1
        pair_images.append((image, image))
    return ids, points, pair_images


def _ground_centre(points, labels, pid):
    p = np.concatenate([points[k][lab == pid] for k, lab in labels.items()])
    p = p[np.isfinite(p).all(1)]
    return np.median(p[:, :2], 0)


# four wall cameras of a 6 x 5 m room, 2.4 m high
CAMS = np.array([[-3.0, -2.5, 2.4], [3.0, -2.5, 2.4], [3.0, 2.5, 2.4], [-3.0, 2.5, 2.4]])


def test_ground_basis_is_orthonormal_and_horizontal():
    for up in (UP, (0.0, -1.0, 0.0), (0.3, 0.2, 0.93)):
        b = ground_basis(up)
        u = np.asarray(up) / np.linalg.norm(up)
        np.testing.assert_allclose(b @ b.T, np.eye(2), atol=1e-12)
        np.testing.assert_allclose(b @ u, 0.0, atol=1e-12)


def test_fragments_of_one_person_from_cameras_with_wrong_depths_become_one_person_where_the_rays_cross():
    rng = np.random.default_rng(0)
    true = (0.4, -0.3)
    # each camera's segment got its own id and a depth 15-35% off (too far or too near)
    segs = [(0, 1, true, 1.35, 300), (1, 2, true, 1.2, 300), (2, 3, true, 0.8, 300), (3, 4, true, 1.15, 300)]
    ids, points, pairs = _scene(CAMS, segs, rng)
    before = max(np.linalg.norm(_ground_centre(points, {k: lab}, pid) - true)
                 for k, lab in ids.labels.items() for pid in np.unique(lab) if pid)
    assert before > 0.5  # the fragments are far apart: the problem this module solves
    out = triangulate_people(ids, points, dict(enumerate(CAMS)), UP, pairs)
    pids = {int(p) for lab in ids.labels.values() for p in np.unique(lab) if p}
    assert pids == {1} and set(ids.scores) == {1} and ids.support[1] == 4
    assert set(ids.assignment.values()) == {1}
    assert np.linalg.norm(out.positions[1][:2] - true) < 0.2
    # every view's points moved along its own rays onto the person
    for k, lab in ids.labels.items():
        assert np.linalg.norm(_ground_centre(out.points, {k: lab}, 1) - true) < 0.25
    assert set(out.scales) == {(1, 0), (2, 1), (3, 2), (4, 3)}
    assert out.scales[(1, 0)] < 1 < out.scales[(3, 2)]
    # the input points are untouched (the moved images are copies)
    assert np.linalg.norm(_ground_centre(points, {0: ids.labels[0]}, 1) - true) > 0.5


def test_two_people_keep_two_ids_even_when_the_network_swapped_one_view():
    rng = np.random.default_rng(1)
    a, b = (-1.0, 0.5), (1.2, -0.4)
    segs = [(0, 1, a, 1.2, 300), (1, 1, a, 1.25, 300), (2, 1, a, 0.85, 300),
            (0, 2, b, 1.2, 300), (1, 2, b, 0.9, 300), (2, 2, b, 1.1, 300), (3, 2, b, 1.2, 300),
            (3, 1, a, 1.1, 300)]
    ids, points, pairs = _scene(CAMS, segs, rng)
    # the network gave camera 3's view of person a the id of person b: relabel its block
    lab3 = ids.labels[3]
    lab3[lab3 == 1] = 3
    ids.scores[3], ids.support[3] = 0.8, 1
    out = triangulate_people(ids, points, dict(enumerate(CAMS)), UP, pairs)
    pids = sorted({int(p) for lab in ids.labels.values() for p in np.unique(lab) if p})
    assert len(pids) == 2
    near = {pid: min((np.linalg.norm(out.positions[pid][:2] - np.asarray(t)), n) for n, t in (("a", a), ("b", b)))
            for pid in pids}
    assert sorted(n for _, n in near.values()) == ["a", "b"]
    assert all(d < 0.2 for d, _ in near.values())
    # every camera's segment of a landed in a's group, of b in b's
    pid_a = next(p for p, (_, n) in near.items() if n == "a")
    for k in range(4):
        assert pid_a in np.unique(ids.labels[k])


def test_a_segment_seen_by_one_camera_only_stays_alone_and_unmoved():
    rng = np.random.default_rng(2)
    segs = [(0, 1, (0.0, 0.0), 1.2, 300), (1, 1, (0.0, 0.0), 1.2, 300),
            (2, 2, (2.2, 1.8), 1.3, 300)]  # a patch near camera 2 that no other camera sees
    ids, points, pairs = _scene(CAMS, segs, rng)
    out = triangulate_people(ids, points, dict(enumerate(CAMS)), UP, pairs)
    assert (2, 2) not in out.scales
    np.testing.assert_array_equal(out.points[2][ids.labels[2] == 2], points[2][ids.labels[2] == 2])
    assert len({int(p) for lab in ids.labels.values() for p in np.unique(lab) if p}) == 2


def test_two_fragments_in_one_image_join_and_small_bits_follow_their_id():
    rng = np.random.default_rng(3)
    p = (0.5, 0.5)
    segs = [(0, 1, p, 1.2, 200), (0, 2, p, 1.25, 150), (1, 3, p, 1.0, 300), (1, 4, (2.0, -1.5), 1.0, 10)]
    ids, points, pairs = _scene(CAMS, segs, rng)
    # the 10-pixel bit of id 4 is too small to be a segment; id 4 has no segment anywhere
    out = triangulate_people(ids, points, dict(enumerate(CAMS)), UP, pairs, RayRules(min_pixels=30))
    assert set(np.unique(ids.labels[0])) - {0} == set(np.unique(ids.labels[1])) - {0, 4}
    assert len(out.groups) == 1 and len(next(iter(out.groups.values()))) == 3
    assert 4 in np.unique(ids.labels[1]) and 4 in ids.scores  # untouched


def test_segments_that_would_meet_behind_a_camera_are_not_joined():
    # two cameras facing each other along x, each sees a different thing straight ahead
    cams = np.array([[-3.0, 0.0, 2.0], [3.0, 0.0, 2.0]])
    rng = np.random.default_rng(4)
    segs = [(0, 1, (-1.5, 0.0), 1.0, 300), (1, 2, (1.5, 0.0), 1.0, 300)]
    ids, points, pairs = _scene(cams, segs, rng)
    out = triangulate_people(ids, points, dict(enumerate(cams)), UP, pairs)
    # anti-parallel rays: no crossing, nothing moved; 3 m apart along the rays: two people
    assert out.scales == {}
    assert len(out.groups) == 2


@pytest.mark.parametrize("factor", [0.7, 1.4])
def test_a_person_seen_by_two_cameras_at_right_angles_is_placed_within_a_body_width(factor):
    cams = np.array([[-3.0, 0.0, 2.0], [0.0, -3.0, 2.0]])
    rng = np.random.default_rng(5)
    segs = [(0, 1, (0.0, 0.0), factor, 300), (1, 2, (0.0, 0.0), 1.0 / factor, 300)]
    ids, points, pairs = _scene(cams, segs, rng)
    out = triangulate_people(ids, points, dict(enumerate(cams)), UP, pairs)
    (pid, pos), = out.positions.items()
    # the visible sides' centres lie ~0.11 m towards each camera from the axis
    assert np.linalg.norm(pos[:2]) < 0.2


def test_views_whose_depth_is_already_right_are_left_to_the_3d_rules():
    rng = np.random.default_rng(6)
    segs = [(0, 1, (0.4, -0.3), 1.0, 300), (1, 2, (0.4, -0.3), 1.0, 300), (2, 3, (-1.2, 1.2), 1.0, 300)]
    ids, points, pairs = _scene(CAMS, segs, rng)
    labels = {k: lab.copy() for k, lab in ids.labels.items()}
    out = triangulate_people(ids, points, dict(enumerate(CAMS)), UP, pairs, range_error={0: 0.002, 1: 0.002, 2: 0.002})
    assert out.groups == {} and out.scales == {}
    for k in labels:
        np.testing.assert_array_equal(ids.labels[k], labels[k])
        assert out.points[k] is points[k]
    # the same views with the embedded model's error (0.3): the two segments of one person join
    out = triangulate_people(ids, points, dict(enumerate(CAMS)), UP, pairs, range_error={0: 0.3, 1: 0.3, 2: 0.3})
    assert sorted(len(g) for g in out.groups.values()) == [1, 2]


def test_a_larger_depth_error_lets_farther_segments_join():
    # one camera's segment 40% too far: with a 5% error it is another thing, with 30% the same person
    rng = np.random.default_rng(7)
    cams = np.array([[-3.0, 0.0, 2.0], [0.0, -3.0, 2.0]])
    segs = [(0, 1, (0.0, 0.0), 1.4, 300), (1, 2, (0.0, 0.0), 1.0, 300)]
    for err, groups in ((0.06, 2), (0.3, 1)):
        ids, points, pairs = _scene(cams, segs, rng)
        out = triangulate_people(ids, points, dict(enumerate(cams)), UP, pairs, range_error={0: err, 1: err})
        assert len(out.groups) == groups


def test_ground_covariance_is_long_along_a_lone_camera_ray_and_small_where_two_cross():
    rng = np.random.default_rng(5)
    cameras = np.array([[0.0, 0.0, 1.5], [4.0, 4.0, 1.5]])
    # person 1 seen by camera 0 only (along +x), person 2 by both (rays 90 deg apart)
    ids, points, _ = _scene(cameras, [(0, 1, (3.0, 0.0), 1.0, 200), (0, 2, (4.0, 0.0), 1.0, 200),
                                      (1, 2, (4.0, 0.0), 1.0, 200)], rng)
    rules = RayRules()
    cov = ground_covariances(ids, points, dict(enumerate(cameras)), UP, rules, {0: 0.3, 1: 0.3})
    assert set(cov) == {1, 2}
    for c in cov.values():
        np.testing.assert_allclose(c[2], 0.0, atol=1e-12)  # nothing said about the height
        np.testing.assert_allclose(c, c.T, atol=1e-12)
    w, v = np.linalg.eigh(cov[1][:2, :2])
    assert abs(v[0, 1]) > 0.99  # the long axis is camera 0's ray (x)
    r = 3.0 - 0.09  # the visible side's median range
    assert np.sqrt(w[1]) == pytest.approx(np.hypot(0.3 * r, rules.range_floor), rel=0.05)
    assert np.sqrt(w[0]) == pytest.approx(rules.lateral_sigma, rel=0.05)
    # two cameras crossing at right angles: each one's lateral sigma bounds both axes
    assert np.sqrt(np.linalg.eigvalsh(cov[2][:2, :2])).max() < rules.lateral_sigma
    # views whose depth is good enough take no part: no covariance from them
    assert ground_covariances(ids, points, dict(enumerate(cameras)), UP, rules, {0: 0.01, 1: 0.01}) == {}
