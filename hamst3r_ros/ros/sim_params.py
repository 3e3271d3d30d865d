"""The parameters of ``sim_cameras``: one table of :class:`~hamst3r_ros.ros.params.ParamSpec`,
validated without ROS (:func:`validate_sim`), declared on the node with descriptions
(:func:`declare_sim_params`), as :mod:`hamst3r_ros.ros.params` does for ``hamst3r_node``.

Units: hertz (``rate_hz``), milliseconds (``jitter_ms``), pixels; ``rate`` is a factor.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Mapping

from hamst3r_ros.ros.params import (BOOL, DOUBLE, INTEGER, STRING, STRING_ARRAY, ParameterError, ParamSpec,
                                    _non_negative, _one_of, _positive, check_values, declare_specs, merge_values)

WHO = "sim_cameras"


def _source_needs(v, values):
    if v == "folder" and not values["folder"]:
        return ("needs the parameter 'folder' (a folder with one sub-folder per camera); for a rendered synthetic "
                "scene set source:=synthetic, for a ROS 2 bag source:=bag")
    if v == "bag" and not values["bag"]:
        return "needs the parameter 'bag' (a ROS 2 bag: its folder, or its .mcap or .db3 file)"
    return None


def _exists(v, _):
    path = os.path.expanduser(v)
    return None if v == "" or os.path.exists(path) else f"names nothing: {path!r} does not exist"


def _at_least_one(v, _):
    return None if v >= 1 else "must be >= 1"


SIM_PARAMETERS: tuple[ParamSpec, ...] = (
    ParamSpec("source", STRING, "folder", "'folder' (images per camera, or a `hamst3r synth` dataset), 'synthetic' "
              "(a scene rendered at start) or 'bag' (a ROS 2 bag of camera topics)",
              lambda v, values: _one_of("folder", "synthetic", "bag")(v, values) or _source_needs(v, values)),
    ParamSpec("folder", STRING, "", "source 'folder': <folder>/<camera>/*.png|jpg, or a `hamst3r synth` dataset", _exists),
    ParamSpec("cameras", STRING_ARRAY, [], "source 'folder': the camera sub-folders to publish (default: all); "
              "source 'bag': a name per image topic, published as <name>/image_raw (default: from the topics)"),
    # Bags
    ParamSpec("bag", STRING, "", "source 'bag': the bag folder, or its .mcap / .db3 file", _exists),
    ParamSpec("image_topics", STRING_ARRAY, [], "source 'bag': image topics to play (default: every "
              "sensor_msgs/Image and CompressedImage topic)"),
    ParamSpec("camera_info_topics", STRING_ARRAY, [], "source 'bag': camera_info topic per image topic ('' = none; "
              "default: <ns>/camera_info beside <ns>/image_raw, as image_transport pairs them)"),
    ParamSpec("rate", DOUBLE, 1.0, "source 'bag': playback speed, bag seconds per second (1 = as recorded)", _positive),
    ParamSpec("stamps", STRING, "keep", "source 'bag': 'keep' the recorded stamps and publish the bag's time on /clock "
              "(run the node with use_sim_time), or rewrite them to 'now' (no /clock)", _one_of("keep", "now")),
    # Frame-set sources (folder, synthetic)
    ParamSpec("rate_hz", DOUBLE, 10.0, "sources 'folder' and 'synthetic': frame sets per second", _positive),
    ParamSpec("loop", BOOL, True, "start over after the last frame set (every source)"),
    ParamSpec("count", INTEGER, 0, "frame sets to publish, 0 = until stopped (folder, synthetic)", _non_negative),
    ParamSpec("compressed", STRING, "", "'' (sensor_msgs/Image), or 'jpeg' / 'png' (CompressedImage on "
              "<name>/image_raw/compressed) (folder, synthetic)", _one_of("", "jpeg", "png")),
    ParamSpec("encoding", STRING, "rgb8", "'rgb8' or 'bgr8' (folder, synthetic)", _one_of("rgb8", "bgr8")),
    ParamSpec("jitter_ms", DOUBLE, 0.0, "per-camera stamp jitter, milliseconds, as free-running drivers have "
              "(folder, synthetic)", _non_negative),
    ParamSpec("frame_id_suffix", STRING, "_optical_frame", "frame_id = <camera><suffix> (folder, synthetic)"),
    ParamSpec("seed", INTEGER, 0, "seed of the synthetic scene and of the jitter"),
    ParamSpec("synthetic_cameras", INTEGER, 4, "source 'synthetic': cameras", _at_least_one),
    ParamSpec("synthetic_people", INTEGER, 2, "source 'synthetic': people", _non_negative),
    ParamSpec("synthetic_frames", INTEGER, 20, "source 'synthetic': frame sets rendered at start, then looped",
              _at_least_one),
    ParamSpec("width", INTEGER, 512, "source 'synthetic': image width, pixels", _positive),
    ParamSpec("height", INTEGER, 384, "source 'synthetic': image height, pixels", _positive),
)

SIM_SPECS: dict[str, ParamSpec] = {s.name: s for s in SIM_PARAMETERS}


@dataclass(frozen=True)
class SimParams:
    """Validated parameters of sim_cameras (see SIM_PARAMETERS for meanings and units)."""

    source: str
    folder: str
    cameras: list[str]
    bag: str
    image_topics: list[str]
    camera_info_topics: list[str]
    rate: float
    stamps: str
    rate_hz: float
    loop: bool
    count: int
    compressed: str
    encoding: str
    jitter_ms: float
    frame_id_suffix: str
    seed: int
    synthetic_cameras: int
    synthetic_people: int
    synthetic_frames: int
    width: int
    height: int


def validate_sim(overrides: Mapping[str, Any]) -> SimParams:
    """Defaults updated with ``overrides``, type-checked and validated.

    Raises:
        ParameterError: one line listing every unknown name and every wrong value.
    """
    values, problems = merge_values(SIM_SPECS, overrides,
                                    lambda k: f"unknown parameter {k!r} (known: {', '.join(SIM_SPECS)})")
    if not problems:
        problems = check_values(SIM_SPECS, values, SIM_SPECS)
    if problems:
        raise ParameterError(f"{WHO}: " + "; ".join(problems))
    for k in ("cameras", "image_topics"):  # camera_info_topics keeps its '' (= none) entries
        values[k] = [t for t in values[k] if t]
    return SimParams(**values)


def declare_sim_params(node) -> SimParams:
    """Declare every parameter on an rclpy node (with its description) and validate the values
    it was started with. Raises ParameterError."""
    return validate_sim(declare_specs(node, SIM_PARAMETERS, WHO))
