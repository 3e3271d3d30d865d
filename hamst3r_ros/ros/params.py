"""The parameters of ``hamst3r_node``: names, types, defaults, descriptions, validation.

One table (:data:`NODE_PARAMETERS`) is the source of truth for the node (declare_params),
config/hamst3r.yaml (tests check every key there is declared here), the launch file and
``hamst3r`` tools. Validation is plain Python (:func:`validate`), so it runs and is tested
without ROS; :func:`declare_params` declares everything on a node with descriptions and
returns the validated :class:`NodeParams`.

Every problem is reported by :class:`ParameterError` naming the parameter, the value and
what was expected; all problems are collected into one message, not just the first.

Live parameters. ``ParamSpec.live`` marks the parameters that may change while the node runs
(``ros2 param set``): :func:`validate_change` checks a change with the same checks as at start
and refuses every other parameter with the reason. ``LIVE_NODE`` ones are read by the ROS node
each time it uses them; ``LIVE_PIPELINE`` ones are handed to the pipeline's
``update_params(values)`` on the worker thread before its next frame set. The others set up
subscriptions, the synchroniser or the model: they are read once, when the node is configured.

Units: seconds (``*_s``), metres, hertz (``*_hz``).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Optional

import yaml


class ParameterError(ValueError):
    """One or more node parameters with wrong values (the message names each one)."""


#: Parameter types, named as in rcl_interfaces/ParameterType.
BOOL, INTEGER, DOUBLE, STRING, STRING_ARRAY = "bool", "integer", "double", "string", "string_array"


#: ``ParamSpec.live``: who reads a live parameter (see the module doc); "" = fixed while configured.
LIVE_NODE, LIVE_PIPELINE = "node", "pipeline"


@dataclass(frozen=True)
class ParamSpec:
    """One parameter. ``check(value, all_values)`` returns an error text or None.

    ``live``: "" (read when the node is configured), ``LIVE_NODE`` or ``LIVE_PIPELINE`` (may change
    at runtime; takes effect from the next frame set).
    """

    name: str
    type: str
    default: Any
    description: str
    check: Optional[Callable[[Any, Mapping[str, Any]], Optional[str]]] = None
    live: str = ""


# --- checks -------------------------------------------------------------------------------

_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_TOPIC_RE = re.compile(r"^[~/]?[A-Za-z_{][A-Za-z0-9_{}]*(/[A-Za-z0-9_{}]+)*$")
_PIPELINE_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
_DEVICE_RE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def _positive(v, _):
    return None if v > 0 else "must be > 0"


def _non_negative(v, _):
    return None if v >= 0 else "must be >= 0"


def _one_of(*choices):
    def check(v, _):
        return None if v in choices else f"must be one of {list(choices)}"
    return check


def _cameras(v, _):
    if not v:
        return "must list at least one camera name (e.g. [cam0, cam1])"
    bad = [n for n in v if not _NAME_RE.match(n)]
    if bad:
        return f"names must be letters, digits and '_' starting with a letter; bad: {bad}"
    if len(set(v)) != len(v):
        return "names must be unique"
    return None


def _per_camera(allow_empty_entries: bool):
    def check(v, values):
        n = len(values.get("cameras") or [])
        if v and len(v) != n:
            return f"has {len(v)} entries for {n} cameras (give one per camera, or none for the default)"
        bad = [t for t in v if not (allow_empty_entries and t == "") and not _TOPIC_RE.match(t)]
        return f"entries are not valid topic names: {bad}" if bad else None
    return check


def _min_cameras(v, values):
    n = len(values.get("cameras") or [])
    return None if 1 <= v <= max(n, 1) else f"must be in [1, {n}] (the number of cameras)"


def _fixed_frame(v, _):
    if not v:
        return "must name the frame outputs are expressed in (e.g. 'world' or 'map')"
    return "must not start with '/' (tf2 frame ids are bare names)" if v.startswith("/") else None


def _pipeline(v, _):
    return None if v == "" or _PIPELINE_RE.match(v) else "must be '' (the HAMSt3R pipeline) or 'package.module:factory'"


def _checkpoint(v, _):
    if v == "":
        return None
    path = os.path.expanduser(v)
    if not os.path.isfile(path):
        return f"file {path!r} does not exist (give a .safetensors/.pth checkpoint, or '' for the default)"
    return None


def _device(v, _):
    return None if _DEVICE_RE.match(v) else "must be 'auto', 'cpu', 'cuda' or 'cuda:<index>'"


# --- the table ----------------------------------------------------------------------------

NODE_PARAMETERS: tuple[ParamSpec, ...] = (
    # Inputs
    ParamSpec("cameras", STRING_ARRAY, [], "camera names, one per camera; they name the cameras in outputs "
              "and diagnostics", _cameras),
    ParamSpec("image_topics", STRING_ARRAY, [], "image topic per camera (default <name>/image_raw, or "
              "<name>/image_raw/compressed with image_transport 'compressed')", _per_camera(False)),
    ParamSpec("camera_info_topics", STRING_ARRAY, [], "camera_info topic per camera ('' = none: intrinsics "
              "are estimated); empty list = no camera_info at all", _per_camera(True)),
    ParamSpec("image_transport", STRING, "raw", "'raw' (sensor_msgs/Image) or 'compressed' "
              "(sensor_msgs/CompressedImage, jpeg/png)", _one_of("raw", "compressed")),
    ParamSpec("fixed_frame", STRING, "world", "frame of every output (points, humans, TF parent)", _fixed_frame),
    # Synchronisation and stale input
    ParamSpec("sync_slop_s", DOUBLE, 0.02, "largest stamp spread within one frame set, seconds", _positive),
    ParamSpec("sync_queue_size", INTEGER, 10, "images kept per camera while waiting for a match",
              lambda v, _: None if v >= 1 else "must be >= 1"),
    ParamSpec("camera_timeout_s", DOUBLE, 1.0, "a camera silent this long is left out of frame sets "
              "until it publishes again, seconds", _positive),
    ParamSpec("min_cameras", INTEGER, 1, "fewest cameras a frame set needs", _min_cameras),
    ParamSpec("max_input_age_s", DOUBLE, 2.0, "images older than this (stamp vs. node clock) are stale "
              "and skipped, seconds", _positive, live=LIVE_NODE),
    ParamSpec("max_image_pixels", INTEGER, 7680 * 4320, "largest image (width x height, pixels) a camera "
              "may send; larger ones are bad input of that camera, skipped (as are images with a side "
              "under 16 px or an aspect ratio over 8:1)", _positive, live=LIVE_NODE),
    # Pipeline
    ParamSpec("pipeline", STRING, "", "'' for the HAMSt3R pipeline, or 'package.module:factory' of another "
              "(tests, benchmarks)", _pipeline),
    ParamSpec("checkpoint", STRING, "", "model weights file ('' = the default model)", _checkpoint),
    ParamSpec("device", STRING, "auto", "'auto' (cuda when available), 'cpu', 'cuda' or 'cuda:<index>'", _device),
    ParamSpec("precision", STRING, "auto",
              "'auto' (bf16 where fast: CUDA, or a CPU with AMX / AVX512-BF16; else fp32), 'fp32', 'bf16'",
              _one_of("auto", "fp32", "bf16")),
    ParamSpec("encoder", STRING, "", "DUNE encoder file, when 'checkpoint' is a DUNE-MASt3R decoder file", _checkpoint),
    ParamSpec("pair_strategy", STRING, "auto", "image pairs decoded per frame set: 'auto' (complete up to 8 "
              "cameras, then 'confidence'), 'complete', 'reference', 'sliding_window', 'confidence' (a spanning "
              "tree plus each camera's 2 best partners by how well their pairs agreed with earlier solutions)",
              _one_of("auto", "complete", "reference", "sliding_window", "confidence")),
    ParamSpec("fit_bodies", BOOL, True, "fit a body model per person (needs a model with human heads)"),
    ParamSpec("body_model", STRING, "anny", "'anny' (free, default) or 'smpl' (needs smpl_model)",
              _one_of("anny", "smpl")),
    ParamSpec("smpl_model", STRING, "", "licensed SMPL model file (.npz) when body_model is 'smpl'", _checkpoint),
    ParamSpec("body_fit_every", INTEGER, 1, "fit bodies on every n-th frame set; in between, each body follows "
              "its points' centre with the pose held (a CPU saving: fits are most of the people stage)", _positive,
              live=LIVE_PIPELINE),
    ParamSpec("extrinsics_file", STRING, "", "YAML of known camera poses in fixed_frame: {name: {translation: "
              "[x, y, z], rotation: [qx, qy, qz, qw]}} (metres; optical frames); any makes the output metric",
              _checkpoint),
    ParamSpec("extrinsics_fixed", BOOL, True, "hold known extrinsics exactly (true) or as soft priors (false)"),
    ParamSpec("refine_depth", BOOL, True, "after the alignment, correct each view's depth by a smooth field fitted to "
              "the descriptor matches triangulated with the solved cameras (views whose matches do no better than "
              "chance, or already agree with their depth, are left as they are)", live=LIVE_PIPELINE),
    ParamSpec("refine_depth_min_matches", INTEGER, 30, "inlier matches a view needs before refine_depth corrects "
              "its depth", lambda v, _: None if v >= 3 else "must be >= 3", live=LIVE_PIPELINE),
    # Outputs
    ParamSpec("diagnostics_period_s", DOUBLE, 1.0, "period of /diagnostics, seconds", _positive, live=LIVE_NODE),
    ParamSpec("points_min_period_s", DOUBLE, 0.0, "least time between two ~/points clouds, seconds "
              "(0 = every frame set)", _non_negative, live=LIVE_NODE),
    # The fused cloud (~/points): filtered once, where it is fused (geometry/fusion.py)
    ParamSpec("min_confidence", DOUBLE, 1.5, "multi-view consensus confidence a pixel needs to enter the "
              "cloud (network confidences are >= 1; 0 keeps every point, each carries its confidence)",
              _non_negative, live=LIVE_PIPELINE),
    ParamSpec("min_views_agree", INTEGER, 0, "other cameras whose depth must agree with a point for it to enter "
              "the cloud (0 = off; every point carries its count in the 'views' field)",
              lambda v, _: None if v >= 0 else "must be >= 0", live=LIVE_PIPELINE),
    ParamSpec("view_agreement_tolerance", DOUBLE, 0.05, "relative depth difference within which another camera "
              "agrees with a point", _positive, live=LIVE_PIPELINE),
    ParamSpec("voxel_size", DOUBLE, 0.0, "keep the most confident point per voxel of this edge, metres "
              "(0 = off)", _non_negative, live=LIVE_PIPELINE),
    ParamSpec("max_points", INTEGER, 0, "most points in the cloud, the most confident kept (0 = no limit)",
              _non_negative, live=LIVE_PIPELINE),
    ParamSpec("publish_camera_tf", BOOL, True, "publish fixed_frame -> camera optical frames on /tf "
              "(turn off when the robot's TF tree already has them)", live=LIVE_NODE),
    ParamSpec("marker_lifetime_s", DOUBLE, 0.0, "lifetime of ~/markers, seconds (0 = until deleted)",
              _non_negative, live=LIVE_NODE),
    # Lifecycle
    ParamSpec("managed", BOOL, False, "wait in 'unconfigured' for a lifecycle manager's configure and activate "
              "(true), or configure and activate at start (false)"),
)

SPECS: dict[str, ParamSpec] = {s.name: s for s in NODE_PARAMETERS}
#: Parameters of earlier versions -> what replaced them (named in the error).
RENAMED: dict[str, str] = {"fusion_min_confidence": "'min_confidence' (the cloud's one confidence filter)"}


@dataclass(frozen=True)
class CameraConfig:
    """One input camera, resolved from the parameters."""

    name: str
    image_topic: str
    camera_info_topic: str  # "" = none
    compressed: bool


@dataclass(frozen=True)
class NodeParams:
    """Validated parameters of hamst3r_node (see NODE_PARAMETERS for meanings and units)."""

    cameras: list[CameraConfig]
    fixed_frame: str
    sync_slop_s: float
    sync_queue_size: int
    camera_timeout_s: float
    min_cameras: int
    max_input_age_s: float
    max_image_pixels: int
    pipeline: str
    checkpoint: str
    device: str
    precision: str
    encoder: str
    pair_strategy: str
    fit_bodies: bool
    body_model: str
    smpl_model: str
    body_fit_every: int
    extrinsics_file: str
    extrinsics_fixed: bool
    refine_depth: bool
    refine_depth_min_matches: int
    diagnostics_period_s: float
    points_min_period_s: float
    min_confidence: float
    min_views_agree: int
    view_agreement_tolerance: float
    voxel_size: float
    max_points: int
    publish_camera_tf: bool
    marker_lifetime_s: float
    managed: bool
    values: dict[str, Any] = field(default_factory=dict)  # every parameter by name, as validated


def defaults() -> dict[str, Any]:
    """Every parameter's default value (fresh copies)."""
    return {s.name: (list(s.default) if isinstance(s.default, list) else s.default) for s in NODE_PARAMETERS}


def _coerce(spec: ParamSpec, v: Any) -> tuple[Any, Optional[str]]:
    """Value converted to the spec's type, or an error text."""
    t = spec.type
    if t == BOOL:
        return (v, None) if isinstance(v, bool) else (v, "must be true or false")
    if t == INTEGER:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or (isinstance(v, float) and not v.is_integer()):
            return v, "must be an integer"
        return int(v), None
    if t == DOUBLE:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return v, "must be a number"
        return float(v), None
    if t == STRING:
        return (v, None) if isinstance(v, str) else (v, "must be a string")
    if t == STRING_ARRAY:
        if v is None:
            return [], None
        if isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v):
            return list(v), None
        return v, "must be a list of strings"
    raise AssertionError(f"unknown parameter type {t}")


def merge_values(specs: Mapping[str, ParamSpec], overrides: Mapping[str, Any],
                 unknown: Callable[[str], str]) -> tuple[dict[str, Any], list[str]]:
    """The defaults of ``specs`` updated with ``overrides``, each coerced to its spec's type, and the
    problems found: unknown names (worded by ``unknown(name)``) and values of the wrong type."""
    problems = [unknown(k) for k in overrides if k not in specs]
    values = {n: (list(s.default) if isinstance(s.default, list) else s.default) for n, s in specs.items()}
    for k, v in overrides.items():
        if k in specs:
            values[k], err = _coerce(specs[k], v)
            if err:
                problems.append(f"parameter {k!r} = {v!r} {err}")
    return values, problems


def check_values(specs: Mapping[str, ParamSpec], values: Mapping[str, Any], names) -> list[str]:
    """The problems of the parameters ``names`` (their checks see every value)."""
    problems = []
    for name in names:
        spec = specs[name]
        err = spec.check(values[name], values) if spec.check is not None else None
        if err:
            problems.append(f"parameter {name!r} = {values[name]!r} {err}")
    return problems


def validate(overrides: Mapping[str, Any]) -> NodeParams:
    """Defaults updated with ``overrides``, type-checked and validated.

    Raises:
        ParameterError: listing every unknown name and every wrong value.
    """
    values, problems = merge_values(SPECS, overrides, _unknown)
    if not problems:
        problems = _check(values, SPECS)
    if problems:
        raise ParameterError("hamst3r_node: " + "; ".join(problems))
    return _build(values)


def _unknown(name: str) -> str:
    return f"parameter {name!r} is now {RENAMED[name]}" if name in RENAMED else \
        f"unknown parameter {name!r} (known: {', '.join(SPECS)})"


def _check(values: Mapping[str, Any], names) -> list[str]:
    return check_values(SPECS, values, names)


def _build(values: Mapping[str, Any]) -> NodeParams:
    """NodeParams of complete, valid values."""
    compressed = values["image_transport"] == "compressed"
    topics = values["image_topics"] or [f"{n}/image_raw" + ("/compressed" if compressed else "")
                                        for n in values["cameras"]]
    infos = values["camera_info_topics"] or [""] * len(values["cameras"])
    cams = [CameraConfig(n, topics[i], infos[i], compressed) for i, n in enumerate(values["cameras"])]
    scalar = {k: v for k, v in values.items() if k not in ("cameras", "image_topics", "camera_info_topics",
                                                            "image_transport")}
    return NodeParams(cameras=cams, values=dict(values), **scalar)


def live_parameters(who: Optional[str] = None) -> list[str]:
    """Names of the parameters that may change at runtime (``who``: only LIVE_NODE or LIVE_PIPELINE ones)."""
    return [s.name for s in NODE_PARAMETERS if s.live and (who is None or s.live == who)]


def validate_change(current: NodeParams, changes: Mapping[str, Any]) -> NodeParams:
    """``current`` with ``changes`` applied, for a node that runs (configured): only live parameters may
    change, each checked exactly as at start (:func:`validate`'s coercion and checks).

    Raises:
        ParameterError: naming every refused parameter and why (not live, wrong type, wrong value).
    """
    values = dict(current.values)
    problems = []
    for k, v in changes.items():
        spec = SPECS.get(k)
        if spec is None:
            problems.append(_unknown(k))
        elif not spec.live:
            problems.append(f"parameter {k!r} cannot change while the node is configured: it is read once, "
                            f"at configure (live parameters: {', '.join(live_parameters())})")
        else:
            values[k], err = _coerce(spec, v)
            if err:
                problems.append(f"parameter {k!r} = {v!r} {err}")
    if not problems:
        problems = _check(values, [k for k in changes])
    if problems:
        raise ParameterError("hamst3r_node: " + "; ".join(problems))
    return _build(values)


def declare_params(node) -> NodeParams:
    """Declare every parameter on an rclpy node (:func:`declare_all`) and validate the values it was
    started with (``--ros-args -p``/``--params-file``). Raises ParameterError."""
    return validate(declare_all(node))


def declare_all(node) -> dict[str, Any]:
    """Declare every parameter on an rclpy node, with its description and whether it is live
    (``additional_constraints``); returns the values it was started with, unvalidated.

    Nothing is declared read-only: rclpy would refuse a change of a read-only parameter with a
    generic text before the node could say why, and while the node is unconfigured (a lifecycle
    node after cleanup) every parameter may change. The node's set-parameters callback refuses
    what cannot change (:func:`validate_change`). Raises ParameterError for a value of the wrong
    type that rclpy cannot even declare."""
    def when(spec: ParamSpec) -> str:
        return "live: changes at runtime (ros2 param set), from the next frame set" if spec.live else \
            "read at configure: change it while the node is unconfigured, or restart the node"

    return declare_specs(node, NODE_PARAMETERS, "hamst3r_node", when)


def declare_specs(node, specs: Iterable[ParamSpec], who: str,
                  constraints: Optional[Callable[[ParamSpec], str]] = None) -> dict[str, Any]:
    """Declare ``specs`` on an rclpy node with their descriptions (and ``constraints(spec)`` as the
    descriptor's additional constraints); returns the values it was started with, unvalidated.
    Raises ParameterError (prefixed ``who``) for a value of a type rclpy cannot even declare."""
    from rcl_interfaces.msg import ParameterDescriptor, ParameterType
    from rclpy.exceptions import InvalidParameterTypeException
    from rclpy.parameter import Parameter

    ptype = {BOOL: ParameterType.PARAMETER_BOOL, INTEGER: ParameterType.PARAMETER_INTEGER,
             DOUBLE: ParameterType.PARAMETER_DOUBLE, STRING: ParameterType.PARAMETER_STRING,
             STRING_ARRAY: ParameterType.PARAMETER_STRING_ARRAY}
    got: dict[str, Any] = {}
    problems = []
    for spec in specs:
        desc = ParameterDescriptor(name=spec.name, type=ptype[spec.type], description=spec.description,
                                   additional_constraints=constraints(spec) if constraints else "")
        try:
            if spec.type == STRING_ARRAY:
                # Declared by type: an empty-list default would be typed as a byte array.
                value = node.declare_parameter(spec.name, Parameter.Type.STRING_ARRAY, desc).value
            else:
                # Dynamic typing so that "1" for a double reaches validation and gets coerced
                # (or a clear message) instead of rclpy's type exception.
                desc.dynamic_typing = True
                value = node.declare_parameter(spec.name, spec.default, desc).value
        except InvalidParameterTypeException as e:
            problems.append(f"parameter {spec.name!r} has the wrong type ({e}); expected {spec.type}")
            continue
        got[spec.name] = [] if value is None else value
    if problems:
        raise ParameterError(f"{who}: " + "; ".join(problems))
    return got


def read_params(node) -> NodeParams:
    """Validate the current values of a node's declared parameters (at configure)."""
    from rclpy.exceptions import ParameterUninitializedException

    got: dict[str, Any] = {}
    for spec in NODE_PARAMETERS:
        try:
            value = node.get_parameter(spec.name).value
        except ParameterUninitializedException:  # a list declared by type and never given
            value = None
        got[spec.name] = [] if value is None and spec.type == STRING_ARRAY else value
    return validate(got)


def _key_matches(key: str, fqn: str) -> bool:
    """Whether a parameter-file key (rcl syntax: '/**' any namespaces, '*' one token)
    names the node with fully qualified name ``fqn``."""
    key = key if key.startswith("/") else "/" + key
    rx = "".join("(/[^/]+)*" if tok == "**" else "/[^/]+" if tok == "*" else "/" + re.escape(tok)
                 for tok in key.strip("/").split("/"))
    if key.strip("/") == "**":
        return True
    return re.fullmatch(rx, fqn) is not None


def load_params_file(path: str, node_name: str = "hamst3r_node", namespace: str = "/") -> dict[str, Any]:
    """The ``ros__parameters`` a ROS 2 parameter YAML file gives node ``namespace/node_name``
    (keys as rcl reads them: '/**', '/**/name', '/ns/name'; a bare 'name' is '/name').
    Matching entries are merged in file order."""
    try:
        with open(path) as f:
            doc = yaml.safe_load(f) or {}
    except OSError as e:
        raise ParameterError(f"cannot read parameter file {path!r}: {e}") from None
    if not isinstance(doc, dict):
        raise ParameterError(f"parameter file {path!r} must map node names to {{ros__parameters: ...}}")
    fqn = "/" + "/".join(t for t in (namespace.strip("/"), node_name) if t)
    out: dict[str, Any] = {}
    for key, section in doc.items():
        if not _key_matches(str(key), fqn):
            continue
        if not isinstance(section, dict) or not isinstance(section.get("ros__parameters"), dict):
            raise ParameterError(f"parameter file {path!r}: entry {key!r} needs a 'ros__parameters' mapping")
        out.update(section["ros__parameters"])
    return out
