"""The graph description (aria_nav.graph): consistent with the package, the topic contract and the config file."""
import importlib
import importlib.metadata
import re
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from aria_nav import graph, paths, topics


def test_node_names_are_unique_and_aria_nav_executables_are_console_scripts():
    names = [spec.name for spec in graph.NODES]
    assert len(names) == len(set(names))
    scripts = {ep.name for ep in importlib.metadata.distribution("aria_nav").entry_points
               if ep.group == "console_scripts"}
    for spec in graph.NODES:
        if spec.is_aria_nav:
            assert spec.executable in scripts, f"{spec.name}: no console script '{spec.executable}' in setup.py"


def test_every_reference_to_a_launch_argument_exists_and_toggles_are_booleans():
    arguments = {arg.name: arg for arg in graph.launch_arguments()}
    used = {"params_file", "log_level", graph.COMPOSED_ARGUMENT}  # read by the launchers themselves
    for spec in graph.NODES:
        for _parameter, argument in spec.all_argument_parameters():
            assert argument in arguments, f"{spec.name}: unknown launch argument '{argument}'"
            used.add(argument)
        if spec.enabled_by is not None:
            assert arguments[spec.enabled_by].is_bool, f"{spec.name} toggled by non-boolean '{spec.enabled_by}'"
            used.add(spec.enabled_by)
        if spec.enabled_in:
            argument, values = spec.enabled_in
            assert set(values) <= set(arguments[argument].choices), spec.name
            used.add(argument)
        # A composed member is always on (nav.launch.py's condition for it is the composed mode alone).
        assert not (spec.composed_in and (spec.enabled_by or spec.enabled_in)), spec.name
        assert set(spec.composed_in) <= set(graph.COMPOSED_MODES) - {"false"}, spec.name
    assert used == set(arguments), f"launch arguments nothing uses: {set(arguments) - used}"
    for arg in arguments.values():
        arg.parse(arg.default)  # a default outside its own choices raises


def test_brief_contract_of_instances():
    specs = {spec.name: spec for spec in graph.NODES}
    assert set(specs) == {"camera", "detector", "slam_detector_left", "slam_detector_right", "slam_detector",
                          "slam_detector_gen2", "depth", "fusion", "speech", "describe", "rviz"}
    assert dict(specs["camera"].argument_parameters) == {"source": "source", "path": "input", "loop": "loop",
                                                         "pacing": "pacing", "rate_hz": "rate_hz"}
    assert dict(specs["detector"].argument_parameters) == {"model": "yolo_model", "device": "device"}
    assert dict(specs["depth"].argument_parameters) == {"model": "depth_model", "device": "device",
                                                        "publish_colored": "rviz", "publish_points": "rviz"}
    for side, image, detections in (("left", topics.SLAM_LEFT_IMAGE, topics.SLAM_LEFT_DETECTIONS),
                                     ("right", topics.SLAM_RIGHT_IMAGE, topics.SLAM_RIGHT_DETECTIONS)):
        spec = specs[f"slam_detector_{side}"]
        assert spec.executable == "detector" and spec.enabled_by == "slam"
        assert dict(spec.argument_parameters) == {"model": "slam_yolo_model", "device": "device"}
        assert dict(spec.remappings) == {topics.RGB_IMAGE: image, topics.DETECTIONS: detections}
    # slam_detector:=shared|shared_gen2: one detector process for the SLAM cameras instead of one per camera.
    on = {"slam": True, graph.SLAM_DETECTOR_ARGUMENT: "per_camera"}
    running = lambda mode: [s.name for s in graph.NODES if "slam_detector" in s.name  # noqa: E731
                            and s.is_enabled({**on, graph.SLAM_DETECTOR_ARGUMENT: mode})]
    assert running("per_camera") == ["slam_detector_left", "slam_detector_right"]
    assert running("shared") == ["slam_detector"] and running("shared_gen2") == ["slam_detector_gen2"]
    assert not specs["slam_detector"].is_enabled({**on, "slam": False})
    assert dict(specs["slam_detector"].argument_parameters) == {"model": "slam_yolo_model", "device": "device"}
    assert specs["speech"].enabled_by == "speech"
    assert specs["describe"].enabled_by == "describe"
    rviz = specs["rviz"]
    assert (rviz.package, rviz.executable, rviz.enabled_by, rviz.respawn) == ("rviz2", "rviz2", "rviz", False)
    assert rviz.arguments == ("-d", str(paths.config_file("nav.rviz")))
    # Every aria_nav node gets the replay switch; rviz (another package) only use_sim_time.
    for spec in graph.NODES:
        common = dict(spec.all_argument_parameters())
        assert common["use_sim_time"] == "use_sim_time"
        assert ("process_every_frame" in common) == spec.is_aria_nav


def test_defaults_resolve_against_the_models_folder_and_installed_config(monkeypatch, tmp_path):
    monkeypatch.setenv("ARIA_NAV_MODELS", str(tmp_path))
    values = graph.resolve_arguments({})
    assert values["yolo_model"] == str(tmp_path / "yolo11n_640.onnx")
    assert values["slam_yolo_model"] == str(tmp_path / "yolo11n_256.onnx")
    assert values["depth_model"] == str(tmp_path / "depth_anything_v2_small_518.onnx")
    assert values["params_file"] == str(paths.config_file())
    assert (values["slam"], values["speech"], values["rviz"], values["process_every_frame"]) == (
        True, True, False, False)


def test_arguments_become_typed_parameters_and_toggle_nodes():
    values = graph.resolve_arguments(graph.parse_assignments(
        ["source:=vrs", "input:=/data/walk.vrs", "device:=cuda", "slam:=false", "speech:=false",
         "process_every_frame:=true", "yolo_model:=123"]))
    assert [spec.name for spec in graph.enabled_nodes(values)] == ["camera", "detector", "depth", "fusion"]
    assert graph.node_parameters(graph.node("camera"), values) == {
        "source": "vrs", "path": "/data/walk.vrs", "loop": False, "pacing": "realtime", "rate_hz": 10.0,
        "use_sim_time": False, "process_every_frame": True}
    # A numeric-looking file name stays a string.
    assert graph.node_parameters(graph.node("detector"), values)["model"] == "123"
    assert graph.node_parameters(graph.node("depth"), values)["device"] == "cuda"
    rviz_on = graph.resolve_arguments({"rviz": "true"})
    assert "rviz" in [spec.name for spec in graph.enabled_nodes(rviz_on)]


@pytest.mark.parametrize("assignments, message", [
    (["slam:=yes"], "launch argument 'slam': 'yes' is not a boolean: use one of true, false"),
    (["device:=gpu"], "launch argument 'device': 'gpu' is not valid: use one of cpu, cuda"),
    (["sorce:=vrs"], "unknown launch argument 'sorce': valid ones are source, input,"),
    (["source=vrs"], "'source=vrs' is not a launch argument: write name:=value"),
    ([":=x"], "':=x' is not a launch argument"),
])
def test_bad_arguments_are_clear_errors(assignments, message):
    with pytest.raises(graph.GraphError) as error:
        graph.resolve_arguments(graph.parse_assignments(assignments))
    assert message in str(error.value)


def test_unknown_node_name_lists_the_nodes():
    with pytest.raises(graph.GraphError, match="no node 'camra' in the graph: nodes are camera, detector"):
        graph.node("camra")


def test_params_file_sections_are_graph_nodes():
    """A section named after no node (a typo) would silently configure nothing."""
    content = yaml.safe_load(paths.config_file().read_text()) or {}
    names = {spec.name for spec in graph.NODES if spec.is_aria_nav}
    assert set(content) <= names, f"sections of config/nav.yaml without a node: {set(content) - names}"
    for name, section in content.items():
        assert set(section) == {"ros__parameters"}, f"nav.yaml section '{name}' must hold only ros__parameters"


def _matches_type(param, value) -> bool:
    """The YAML value has the declared parameter's type (an integer where a float is declared will do)."""
    def same(kind, item):
        if kind is float:
            return isinstance(item, (int, float)) and not isinstance(item, bool)
        return isinstance(item, kind) and (kind is bool or not isinstance(item, bool))
    if isinstance(param.default, (list, tuple)):
        return isinstance(value, list) and all(same(param.item_type, item) for item in value)
    return same(type(param.default), value)


def test_params_file_sets_declared_parameters_to_valid_values_other_than_their_defaults():
    """Every key of config/nav.yaml is a parameter its node declares, of its type and valid; and none restates the
    default, which lives once, in the node's parameter table (from the core's config where it ends up there)."""
    content = yaml.safe_load(paths.config_file().read_text()) or {}
    for name, section in content.items():
        executable = graph.node(name).executable
        table = {param.name: param for param in importlib.import_module(f"aria_nav.ros.{executable}_params").PARAMS}
        for key, value in (section["ros__parameters"] or {}).items():
            where = f"config/nav.yaml {name}.{key}"
            assert key in table, f"{where}: the {executable} node declares no such parameter"
            param = table[key]
            assert _matches_type(param, value), f"{where}: {value!r} is not of the type of {param.default!r}"
            param.validate(value)  # a ParameterError names the problem
            assert value != param.default, f"{where}: {value!r} is the declared default: drop the line"


def test_parameter_defaults_live_once():
    """Where a parameter's value ends up in a core config, its default is that config's (not a copy). Every node's
    table is aria_nav/ros/<executable>_params.py (the executables import theirs)."""
    from aria_nav.core.detection.detector import DetectorConfig
    from aria_nav.core.detection.postprocess import PostprocessConfig
    from aria_nav.core.fusion.pipeline import FusionConfig
    from aria_nav.core.fusion.policy import PolicyConfig
    from aria_nav.ros import detector_params as detector
    from aria_nav.ros import fusion_params as fusion
    from aria_nav.ros.params import config_from

    detector_params = {param.name: param.default for param in detector.PARAMS}
    fusion_params = {param.name: param.default for param in fusion.PARAMS}
    for name in ("conf_threshold", "iou_threshold", "max_detections"):
        assert detector_params[name] == getattr(DetectorConfig, name) == getattr(PostprocessConfig, name)
    assert fusion_params["side_weight"] == PolicyConfig.side_weight
    # The nodes' defaults build the core's default configs (fusion's yaw 0: taken from the source's calibration).
    defaults = SimpleNamespace(**fusion_params)
    assert replace(fusion.fusion_config(defaults), peripheral_yaw_deg=FusionConfig.peripheral_yaw_deg) == FusionConfig()
    built = config_from(SimpleNamespace(**detector_params), DetectorConfig)
    assert replace(built, classes=tuple(built.classes)) == DetectorConfig()
    source = Path(detector.__file__).read_text() + Path(fusion.__file__).read_text()
    assert '"conf_threshold", 0.' not in source and '"side_weight", 0.' not in source


def test_docs_argument_table_lists_every_argument_with_its_default():
    docs = (Path(__file__).resolve().parents[1] / "docs" / "launch.md").read_text()
    table = docs.split("## Arguments", 1)[1].split("\n\n", 2)[1]
    rows = [[cell.strip().strip("`") for cell in line.strip("|").split("|")] for line in table.splitlines()[2:]]
    arguments = graph.launch_arguments()
    assert [row[0] for row in rows] == [arg.name for arg in arguments]
    for row, arg in zip(rows, arguments):
        if arg.name.endswith("model") or arg.name == "params_file":  # absolute paths here: the docs show the rule
            assert Path(arg.default).name == Path(row[1]).name
        else:
            assert row[1] == (arg.default or "empty"), arg.name


def test_no_module_imports_a_node():
    """Nodes are entry points (setup.py NODES): what other modules need of them lives in aria_nav/ros or core."""
    package = Path(__file__).resolve().parents[1] / "aria_nav"
    imports_a_node = re.compile(r"^\s*(from|import) aria_nav\.nodes\b", re.MULTILINE)
    importers = [str(path.relative_to(package.parent)) for path in package.rglob("*.py")
                 if path.parent.name != "nodes" and imports_a_node.search(path.read_text())]
    assert importers == [], f"modules importing aria_nav.nodes: {importers}"
