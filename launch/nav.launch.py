"""`ros2 launch aria_nav nav.launch.py [name:=value ...]`: the aria_nav graph.

Thin on purpose: nodes, topics, remappings and arguments all come from aria_nav.graph, which `aria-nav launch`
reads too, so the two launchers cannot drift apart. Arguments and behaviour: docs/launch.md.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
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
        condition=IfCondition(LaunchConfiguration(spec.enabled_by)) if spec.enabled_by else None,
        output="screen",
    )


def generate_launch_description() -> LaunchDescription:
    arguments = {arg.name: arg for arg in graph.launch_arguments()}
    declarations = [
        DeclareLaunchArgument(arg.name, default_value=arg.default, description=arg.description,
                              choices=list(arg.choices) or None)
        for arg in arguments.values()
    ]
    return LaunchDescription(declarations + [_node_action(spec, arguments) for spec in graph.NODES])
