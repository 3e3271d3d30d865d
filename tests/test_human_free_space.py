"""Nobody stands where cameras see no one (human/free_space.py)."""
import numpy as np

from hamst3r_ros.human.free_space import free_space_votes, view_rays


def _view(centre, forward, wall_distance, n=41, fov_deg=40.0):
    """(n, n, 3) points of a camera at ``centre`` looking along the horizontal unit
    ``forward``: every pixel's ray meets a surface ``wall_distance`` away (a sphere, so
    every ray has that range)."""
    f = np.asarray(forward, float) / np.linalg.norm(forward)
    up = np.array([0.0, 0.0, 1.0])
    side = np.cross(up, f)
    a = np.radians(np.linspace(-fov_deg / 2, fov_deg / 2, n))
    yaw, pitch = np.meshgrid(a, a)
    d = (np.cos(pitch) * np.cos(yaw))[..., None] * f + (np.cos(pitch) * np.sin(yaw))[..., None] * side \
        + np.sin(pitch)[..., None] * up
    return np.asarray(centre, float) + wall_distance * d


CENTRES = {0: np.array([-3.0, 0.0, 1.0]), 1: np.array([0.0, -3.0, 1.0]), 2: np.array([3.0, 0.0, 1.0])}
FORWARD = {0: (1, 0, 0), 1: (0, 1, 0), 2: (-1, 0, 0)}


def _views(wall):
    points = {k: _view(CENTRES[k], FORWARD[k], wall) for k in CENTRES}
    rays = {k: view_rays(points[k], CENTRES[k]) for k in CENTRES}
    labels = {k: np.zeros(points[k].shape[:2], np.int32) for k in CENTRES}
    return points, rays, labels


def _label_around(labels, rays, k, place, pid, angle_deg=4.0):
    dirs = rays[k][0]
    to = place - CENTRES[k]
    near = dirs @ (to / np.linalg.norm(to)) >= np.cos(np.radians(angle_deg))
    labels[k].reshape(-1)[near] = pid


def test_cameras_that_see_the_background_through_a_place_say_nobody_stands_there():
    _, rays, labels = _views(wall=6.0)  # the room's far walls, 6 m from every camera
    place = np.array([0.0, 0.0, 1.0])  # 3 m from each camera: in free space
    assert free_space_votes(place, 7, labels, rays, CENTRES) == (0, 3)
    # one camera segments person 7 there: seen once, still seen through by two
    _label_around(labels, rays, 0, place, 7)
    assert free_space_votes(place, 7, labels, rays, CENTRES) == (1, 2)
    # all three do: a person
    for k in (1, 2):
        _label_around(labels, rays, k, place, 7)
    assert free_space_votes(place, 7, labels, rays, CENTRES) == (3, 0)


def test_a_place_behind_what_a_camera_sees_or_out_of_its_view_is_no_evidence():
    _, rays, labels = _views(wall=2.0)  # something 2 m in front of every camera
    place = np.array([0.0, 0.0, 1.0])  # 3 m away: occluded (2 < 3 / 1.3), not contradicted
    assert free_space_votes(place, 7, labels, rays, CENTRES) == (0, 0)
    # 45 deg off cameras 0 and 2 (out of their 40 deg views), 6 m ahead of camera 1 (occluded)
    far_side = np.array([0.0, 3.0, 1.0])
    seen, unseen = free_space_votes(far_side, 7, labels, rays, CENTRES)
    assert seen == 0 and unseen == 0


def test_someone_else_in_front_of_the_place_is_no_evidence_either():
    _, rays, labels = _views(wall=6.0)
    place = np.array([0.0, 0.0, 1.0])
    for k in CENTRES:
        _label_around(labels, rays, k, place, 3)  # person 3 covers the place in every view
    assert free_space_votes(place, 7, labels, rays, CENTRES) == (0, 0)


def test_an_unlabelled_surface_at_the_place_says_nobody_is_there():
    # A wall patch one camera segmented as person 7: the two others see the wall right there
    # (a weak network's depth puts it anywhere within its error) and label no one.
    place = np.array([0.0, 0.0, 1.0])  # 3 m from each camera
    for wall in (2.5, 3.0, 3.5):  # 17% nearer, at, 17% farther than the place
        _, rays, labels = _views(wall=wall)
        _label_around(labels, rays, 0, place, 7)
        assert free_space_votes(place, 7, labels, rays, CENTRES) == (1, 2)
    # nearer than the place's distance / min_ratio: an occluder, not the place
    _, rays, labels = _views(wall=2.5)
    assert free_space_votes(place, 7, labels, rays, CENTRES, min_ratio=1.1) == (0, 0)
