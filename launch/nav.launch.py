"""`ros2 launch aria_nav nav.launch.py [name:=value ...]`: the aria_nav graph.

Thin on purpose: nodes, topics, remappings and arguments all come from aria_nav.graph, which `aria-nav launch`
reads too, so the two launchers cannot drift apart. Arguments and behaviour: docs/launch.md.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PythonExpression
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

from aria_nav import graph


def _node_action(spec: graph.NodeSpec, arguments) -> Node:
    # Booleans go through launch_ros's YAML evaluation ("true" -> True), numbers become floats; everything else
    # stays a string, so an empty `input` or a numeric-looking path is not turned into null or a number.
    derived = {
        parameter: (LaunchConfiguration(argument) if arguments[argument].is_bool
                    else ParameterValue(LaunchConfiguration(argument),
                                        value_type=float if arguments[argument].is_number else str))
        for parameter, argument in spec.all_argument_parameters()
    }
    parameters = [LaunchConfiguration("params_file"), derived] if spec.is_aria_nav else [derived]
    return Node(
        package=spec.package,
        executable=spec.executable,
        name=spec.name,
        arguments=list(spec.arguments),
        parameters=parameters,
        remappings=list(spec.remappings),
        ros_arguments=["--log-level", LaunchConfiguration("log_level")],
        respawn=spec.respawn,
        respawn_delay=spec.respawn_delay,
        respawn_max_retries=graph.RESPAWN_MAX_RETRIES,
        sigterm_timeout=str(graph.STOP_SIGINT_TIMEOUT_S),
        sigkill_timeout=str(graph.STOP_SIGTERM_TIMEOUT_S),
        condition=_condition(spec),
        output="screen",
    )


def _condition(spec: graph.NodeSpec):
    if spec.composed_in:  # its own process unless the composed mode puts it in the composed one
        return IfCondition(PythonExpression(["'", LaunchConfiguration(graph.COMPOSED_ARGUMENT), "' not in ",
                                             repr(spec.composed_in)]))
    if spec.enabled_in:  # e.g. slam:=true and slam_detector:=shared
        argument, values = spec.enabled_in
        expression = ["'", LaunchConfiguration(argument), "' in ", repr(values)]
        if spec.enabled_by:
            expression = ["'", LaunchConfiguration(spec.enabled_by), "'.lower() in ('true', '1') and "] + expression
        return IfCondition(PythonExpression(expression))
    return IfCondition(LaunchConfiguration(spec.enabled_by)) if spec.enabled_by else None


def _parameter_text(argument):
    """A launch argument as the YAML text of a `-p name:=value` rule: strings quoted, numbers as floats."""
    value = LaunchConfiguration(argument.name)
    if argument.is_bool:
        return [value]
    if argument.is_number:
        return [PythonExpression(["float(", value, ")"])]
    return ['"', value, '"']


def _composed_action(mode: str, arguments) -> Node:
    """graph.COMPOSED for one composed mode: each member `--node <name> --ros-args ... --`, as aria-nav launch
    writes it (aria_nav.runner.composed_command). No node name of its own: a __node rule would rename every member."""
    argv = []
    for spec in graph.composed_members({graph.COMPOSED_ARGUMENT: mode}):
        argv += ["--node", spec.name, "--ros-args", "-r", f"__node:={spec.name}", "--params-file",
                 LaunchConfiguration("params_file")]
        for parameter, argument in spec.all_argument_parameters():
            argv += ["-p", [f"{parameter}:=", *_parameter_text(arguments[argument])]]
        for source, target in spec.remappings:
            argv += ["-r", f"{source}:={target}"]
        argv.append("--")
    return Node(
        package=graph.COMPOSED.package,
        executable=graph.COMPOSED.executable,
        arguments=argv,
        ros_arguments=["--log-level", LaunchConfiguration("log_level")],
        respawn=graph.COMPOSED.respawn,
        respawn_delay=graph.COMPOSED.respawn_delay,
        respawn_max_retries=graph.RESPAWN_MAX_RETRIES,
        sigterm_timeout=str(graph.STOP_SIGINT_TIMEOUT_S),
        sigkill_timeout=str(graph.STOP_SIGTERM_TIMEOUT_S),
        condition=IfCondition(PythonExpression(["'", LaunchConfiguration(graph.COMPOSED_ARGUMENT), "' == ",
                                                repr(mode)])),
        output="screen",
    )


def generate_launch_description() -> LaunchDescription:
    arguments = {arg.name: arg for arg in graph.launch_arguments()}
    declarations = [
        DeclareLaunchArgument(arg.name, default_value=arg.default, description=arg.description,
                              choices=list(arg.choices) or None)
        for arg in arguments.values()
    ]
    return LaunchDescription(declarations + [_node_action(spec, arguments) for spec in graph.NODES]
                             + [_composed_action(mode, arguments) for mode in graph.COMPOSED_MODES if mode != "false"])
