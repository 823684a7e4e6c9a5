"""The aria_nav node graph, described once.

Both launchers read this module and nothing else: `ros2 launch aria_nav nav.launch.py` (launch/nav.launch.py turns
each NodeSpec into a launch_ros Node action) and `aria-nav launch` (aria_nav.runner starts each one as a process).
They accept the same launch arguments, `name:=value`, listed in launch_arguments().

Parameters: a node gets the params file first (its section in config/nav.yaml, named like the node), then the
parameters derived from launch arguments, which therefore win. A launch argument always sets its parameters, so
under a launcher the params file's values for those (model, device, source, path, ...) are overridden; they apply
when a node is started alone (`ros2 run aria_nav <node> --ros-args --params-file ...`).

Kept free of rclpy and launch imports: the runner, the CLI and the tests use it without a ROS installation.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from aria_nav import paths, topics

PACKAGE = paths.PACKAGE
BOOL_CHOICES = ("true", "false")
# Values of the `composed` launch argument; the NodeSpecs' composed_in says which ones host a node in COMPOSED.
COMPOSED_ARGUMENT = "composed"
COMPOSED_MODES = ("false", "true", "with_camera")
# Values of the `slam_detector` launch argument: how the SLAM cameras' detectors run (NodeSpec.enabled_in).
SLAM_DETECTOR_ARGUMENT = "slam_detector"
SLAM_DETECTOR_MODES = ("per_camera", "shared", "shared_gen2")

# Shutdown: nodes get SIGINT, then SIGTERM after STOP_SIGINT_TIMEOUT_S, then SIGKILL after STOP_SIGTERM_TIMEOUT_S
# more (both launchers).
STOP_SIGINT_TIMEOUT_S = 3.0
STOP_SIGTERM_TIMEOUT_S = 2.0
# A crashed node is restarted after this delay; see docs/launch.md for when each launcher gives up.
RESPAWN_DELAY_S = 2.0
# ros2 launch counts every respawn of a node (launch's respawn_max_retries); aria-nav launch counts consecutive
# failures at start-up instead (aria_nav.runner), so a node that ran fine for hours is always restarted.
RESPAWN_MAX_RETRIES = 3
# A node's exit status for a configuration error (bad parameter, missing file): aria-nav launch does not restart it.
EXIT_CONFIG_ERROR = 2


class GraphError(ValueError):
    """A launch argument, argument value or node name the graph does not have or accept."""


@dataclass(frozen=True)
class LaunchArgument:
    name: str
    default: str
    description: str
    choices: Tuple[str, ...] = ()
    is_number: bool = False  # a float parameter (e.g. a rate): passed as a number, not as text

    @property
    def is_bool(self) -> bool:
        return self.choices == BOOL_CHOICES

    def parse(self, text: str) -> Union[str, bool, float]:
        """The value the nodes get: a bool for boolean arguments, a float for numbers, the text otherwise."""
        if self.choices and text not in self.choices:
            kind = "a boolean" if self.is_bool else "valid"
            raise GraphError(
                f"launch argument '{self.name}': '{text}' is not {kind}: use one of {', '.join(self.choices)}")
        if self.is_number:
            try:
                return float(text)
            except ValueError:
                raise GraphError(f"launch argument '{self.name}': '{text}' is not a number") from None
        return text == "true" if self.is_bool else text


def launch_arguments() -> Tuple[LaunchArgument, ...]:
    """The launch arguments of both launchers, with defaults resolved now (models folder, installed config)."""
    models = paths.models_dir()
    where = f"; models folder: {paths.models_dir_origin()}"
    return (
        LaunchArgument("source", "sample", "Camera frame source (camera parameter 'source').",
                       ("sample", "vrs", "video", "webcam", "bag", "live")),
        LaunchArgument("input", "",
                       "File or device the source reads: a .vrs, video or bag path, a webcam index, a glasses "
                       "address (camera parameter 'path'; empty: the source's default)."),
        LaunchArgument("loop", "false", "Restart a recording at its end (camera parameter 'loop').", BOOL_CHOICES),
        LaunchArgument("pacing", "realtime", "Recordings: their own timing, fixed (rate_hz) or as fast as possible "
                                             "(camera parameter 'pacing').", ("realtime", "fixed", "fast")),
        LaunchArgument("rate_hz", "10.0", "Frame rate of fixed pacing, Hz (camera parameter 'rate_hz').",
                       is_number=True),
        LaunchArgument("yolo_model", str(models / "yolo11n_640.onnx"),
                       "Model of the RGB detector (.onnx, .engine/.plan or .pt)" + where + "."),
        LaunchArgument("slam_yolo_model", str(models / "yolo11n_256.onnx"),
                       "Model of the two SLAM-camera detectors" + where + "."),
        LaunchArgument("depth_model", str(models / "depth_anything_v2_small_518.onnx"),
                       "Depth-Anything-V2 model of the depth node" + where + "."),
        LaunchArgument("device", "cpu", "Where the detectors and the depth model run.", ("cpu", "cuda")),
        LaunchArgument("slam", "true", "Run obstacle detection on the two grayscale SLAM (side) cameras.",
                       BOOL_CHOICES),
        LaunchArgument(SLAM_DETECTOR_ARGUMENT, "per_camera",
                       "How slam:=true detects: per_camera (one detector process per SLAM camera), shared (one "
                       "process and model session for both), shared_gen2 (one for Aria Gen2's four SLAM cameras: "
                       "also the pair slam_pair does not choose).", SLAM_DETECTOR_MODES),
        LaunchArgument("speech", "true", "Speak the warnings (the speech node).", BOOL_CHOICES),
        LaunchArgument("describe", "false", "Describe the scene on request (the describe node: "
                       "/aria_nav/describe service).", BOOL_CHOICES),
        LaunchArgument("rviz", "false", "Start RViz with the project's view (needs rviz2 installed).",
                       BOOL_CHOICES),
        LaunchArgument("params_file", str(paths.config_file()),
                       "Node parameters, one section per node name; launch arguments override them."),
        LaunchArgument("process_every_frame", "false",
                       "Process every frame once, in order, over reliable QoS (deterministic bag replay) instead of "
                       "always the newest frame.", BOOL_CHOICES),
        LaunchArgument("use_sim_time", "false", "Use the /clock topic (bag playback with --clock).", BOOL_CHOICES),
        LaunchArgument("log_level", "info", "Log level of every node.", ("debug", "info", "warn", "error", "fatal")),
        LaunchArgument(COMPOSED_ARGUMENT, "false",
                       "Run the detector, depth and fusion nodes (with_camera: and the camera) in one process, one "
                       "executor, instead of one process each; the topics stay the same.", COMPOSED_MODES),
    )


@dataclass(frozen=True)
class NodeSpec:
    """One node instance of the graph."""

    name: str  # node name, and its section in the params file
    executable: str
    package: str = PACKAGE
    # (parameter, launch argument): the argument's value is set as the parameter.
    argument_parameters: Tuple[Tuple[str, str], ...] = ()
    remappings: Tuple[Tuple[str, str], ...] = ()
    enabled_by: Optional[str] = None  # boolean launch argument that turns the node on; None: always on
    respawn: bool = True
    respawn_delay: float = RESPAWN_DELAY_S
    arguments: Tuple[str, ...] = ()  # command line arguments before --ros-args
    composed_in: Tuple[str, ...] = ()  # `composed` values under which it runs inside the COMPOSED process
    # (launch argument, its values under which the node runs), besides enabled_by; empty: no such condition.
    enabled_in: Tuple[str, Tuple[str, ...]] = ()

    @property
    def is_aria_nav(self) -> bool:
        return self.package == PACKAGE

    def is_enabled(self, values: Mapping[str, Any]) -> bool:
        """Whether the resolved launch arguments turn this node on (composed members aside)."""
        if self.enabled_by is not None and not values[self.enabled_by]:
            return False
        return not self.enabled_in or values[self.enabled_in[0]] in self.enabled_in[1]

    def all_argument_parameters(self) -> Tuple[Tuple[str, str], ...]:
        """The node's own argument parameters plus those every node gets."""
        common = (("use_sim_time", "use_sim_time"),)
        if self.is_aria_nav:
            common += (("process_every_frame", "process_every_frame"),)
        return self.argument_parameters + common


def _detector_remappings(image: str, detections: str) -> Tuple[Tuple[str, str], ...]:
    """Remappings that move a detector from the RGB camera to another camera. Its class-names and annotated-image
    topics are derived from its (remapped) detections topic by the node itself."""
    return ((topics.RGB_IMAGE, image), (topics.DETECTIONS, detections))


_INFERENCE_PARAMETERS = (("device", "device"),)

_COMPOSED = ("true", "with_camera")

NODES: Tuple[NodeSpec, ...] = (
    NodeSpec("camera", "camera", argument_parameters=(("source", "source"), ("path", "input"), ("loop", "loop"),
                                                      ("pacing", "pacing"), ("rate_hz", "rate_hz")),
             composed_in=("with_camera",)),
    NodeSpec("detector", "detector", argument_parameters=(("model", "yolo_model"),) + _INFERENCE_PARAMETERS,
             composed_in=_COMPOSED),
    NodeSpec("slam_detector_left", "detector",
             argument_parameters=(("model", "slam_yolo_model"),) + _INFERENCE_PARAMETERS,
             remappings=_detector_remappings(topics.SLAM_LEFT_IMAGE, topics.SLAM_LEFT_DETECTIONS),
             enabled_by="slam", enabled_in=(SLAM_DETECTOR_ARGUMENT, ("per_camera",))),
    NodeSpec("slam_detector_right", "detector",
             argument_parameters=(("model", "slam_yolo_model"),) + _INFERENCE_PARAMETERS,
             remappings=_detector_remappings(topics.SLAM_RIGHT_IMAGE, topics.SLAM_RIGHT_DETECTIONS),
             enabled_by="slam", enabled_in=(SLAM_DETECTOR_ARGUMENT, ("per_camera",))),
    # One process for several SLAM cameras (the detector's `cameras`, config/nav.yaml), same topics as above.
    NodeSpec("slam_detector", "detector", argument_parameters=(("model", "slam_yolo_model"),) + _INFERENCE_PARAMETERS,
             enabled_by="slam", enabled_in=(SLAM_DETECTOR_ARGUMENT, ("shared",))),
    NodeSpec("slam_detector_gen2", "detector",
             argument_parameters=(("model", "slam_yolo_model"),) + _INFERENCE_PARAMETERS,
             enabled_by="slam", enabled_in=(SLAM_DETECTOR_ARGUMENT, ("shared_gen2",))),
    # rviz:=true also turns on the depth views it displays.
    NodeSpec("depth", "depth", argument_parameters=(("model", "depth_model"), ("publish_colored", "rviz"),
                                                    ("publish_points", "rviz")) + _INFERENCE_PARAMETERS,
             composed_in=_COMPOSED),
    # The camera's source and input tell fusion which calibration holds the IMU-to-camera extrinsics.
    NodeSpec("fusion", "fusion", argument_parameters=(("camera_source", "source"), ("camera_path", "input")),
             composed_in=_COMPOSED),
    NodeSpec("speech", "speech", enabled_by="speech"),
    NodeSpec("describe", "describe", enabled_by="describe"),
    # A viewer: restarting it after the user closed its window would be wrong.
    NodeSpec("rviz", "rviz2", package="rviz2", enabled_by="rviz", respawn=False,
             arguments=("-d", str(paths.config_file("nav.rviz")))),
)


# The one process of composed:=true|with_camera (aria_nav.nodes.composed): its members are the nodes whose
# composed_in holds the mode, each with its own name, parameters and remappings, over one executor. Separate
# processes stay the default: docs/bench/ has the comparison.
COMPOSED = NodeSpec("perception", "composed")


def composed_members(values: Mapping[str, Any]) -> List[NodeSpec]:
    """The nodes the resolved launch arguments put inside the COMPOSED process (none: composed:=false)."""
    return [spec for spec in NODES if values[COMPOSED_ARGUMENT] in spec.composed_in]


def node(name: str) -> NodeSpec:
    for spec in NODES:
        if spec.name == name:
            return spec
    raise GraphError(f"no node '{name}' in the graph: nodes are {', '.join(s.name for s in NODES)}")


def parse_assignments(assignments: Sequence[str]) -> Dict[str, str]:
    """`name:=value` command line items (the ros2 launch syntax) -> {name: value}, unvalidated."""
    given: Dict[str, str] = {}
    for item in assignments:
        name, sep, value = item.partition(":=")
        if not sep or not name:
            raise GraphError(f"'{item}' is not a launch argument: write name:=value")
        given[name] = value
    return given


def resolve_arguments(given: Mapping[str, str]) -> Dict[str, Union[str, bool]]:
    """Every launch argument's value (given, else its default), validated and typed."""
    arguments = {arg.name: arg for arg in launch_arguments()}
    unknown = sorted(set(given) - set(arguments))
    if unknown:
        raise GraphError(
            f"unknown launch argument{'s' if len(unknown) > 1 else ''} {', '.join(repr(u) for u in unknown)}: "
            f"valid ones are {', '.join(arguments)}")
    return {name: arg.parse(given.get(name, arg.default)) for name, arg in arguments.items()}


def enabled_nodes(values: Mapping[str, Any]) -> List[NodeSpec]:
    """The node processes the resolved launch arguments turn on, in start order: COMPOSED in place of its first
    member when composed is on."""
    members = composed_members(values)
    enabled: List[NodeSpec] = []
    for spec in NODES:
        if spec in members:
            if spec is members[0]:
                enabled.append(COMPOSED)
        elif spec.is_enabled(values):
            enabled.append(spec)
    return enabled


def node_parameters(spec: NodeSpec, values: Mapping[str, Any]) -> Dict[str, Any]:
    """The parameters the resolved launch arguments give `spec`."""
    return {parameter: values[argument] for parameter, argument in spec.all_argument_parameters()}
