"""The composed process: several of the graph's nodes in one process, over one context and one executor.

`composed:=true` (both launchers) starts detector, depth and fusion this way, `composed:=with_camera` the camera
too (aria_nav.graph.COMPOSED). Each member is the same node class as its own executable, built with node-local
arguments: its name, params file section, parameters and remappings, exactly those its own process would get.
The topics are the same, so tools (rviz, the bench, bags) see no difference; what changes is that messages between
members stay inside one process (one DDS participant) and the members share one interpreter.

Command line (aria_nav.runner.composed_command writes it; ros2 launch and `ros2 run aria_nav composed` take it):
    composed --node <name> --ros-args <that node's arguments> -- [--node ...] [--ros-args <global arguments>]
Global arguments (the log level) apply to every member; a member's own arguments apply to it alone.

Behaviour as for one node per process (aria_nav.ros.runtime): a signal stops every member within one shutdown
budget, a ConfigError of any member is one line and exit 2 (the whole process: the launcher does not restart
it), a callback error loses one message and is counted by the member whose callback raised it. A member that
asks to exit without an error (the camera's exit_at_end) is closed and removed; the others keep running, as
its process exiting would leave them.
"""
from __future__ import annotations

import sys
import traceback
from typing import Dict, List, Optional, Sequence, Tuple, Type

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.signals import SignalHandlerOptions

from aria_nav import graph
from aria_nav.nodes.camera import CameraNode
from aria_nav.nodes.depth import DepthNode
from aria_nav.nodes.detector import DetectorNode
from aria_nav.nodes.fusion import FusionNode
from aria_nav.ros.params import ConfigError
from aria_nav.ros.runtime import (EXIT_CONFIG_ERROR, AriaNode, Shutdown, close_nodes, free_dead_shared_memory,
                                  leave_on_config_error, spin_once, stop_on_signals)

NAME = "composed"
# Node classes by executable name (aria_nav.graph.NodeSpec.executable) that can be members.
NODE_CLASSES: Dict[str, Type[AriaNode]] = {"camera": CameraNode, "detector": DetectorNode, "depth": DepthNode,
                                           "fusion": FusionNode}


class UsageError(ValueError):
    pass


def parse_members(argv: Sequence[str]) -> Tuple[List[Tuple[str, List[str]]], List[str]]:
    """argv (without the program) -> ([(member name, its --ros-args ... list)], global arguments)."""
    members: List[Tuple[str, List[str]]] = []
    rest = list(argv)
    while rest and rest[0] == "--node":
        if len(rest) < 2 or "--" not in rest:
            raise UsageError("--node needs a name and that node's --ros-args ... ended by --")
        name, end = rest[1], rest.index("--")
        own = rest[2:end]
        if own[:1] != ["--ros-args"]:
            raise UsageError(f"node '{name}': its arguments must begin with --ros-args")
        members.append((name, own))
        rest = rest[end + 1:]
    if not members:
        raise UsageError("no member: give --node <name> --ros-args ... -- for each")
    return members, rest


def member_class(name: str) -> Type[AriaNode]:
    """The class of a member: its graph node's executable (its arguments' `__node:=` names the instance)."""
    executable = graph.node(name).executable
    if executable not in NODE_CLASSES:
        raise UsageError(f"node '{name}' ({executable}) cannot be composed: only {', '.join(NODE_CLASSES)}")
    return NODE_CLASSES[executable]


def _member_of(exc: BaseException, nodes: Sequence[AriaNode]) -> Optional[AriaNode]:
    """The member whose method raised `exc` (innermost frame bound to a member), if any."""
    tb, found = exc.__traceback__, None
    while tb is not None:
        owner = tb.tb_frame.f_locals.get("self")
        if any(owner is node for node in nodes):
            found = owner
        tb = tb.tb_next
    return found


def run_composed(argv: Sequence[str], shutdown: Optional[Shutdown] = None) -> int:
    """Build every member, spin them in one executor until a signal or the context ends; returns the exit code."""
    shutdown = shutdown or stop_on_signals(NAME)
    try:
        members, global_arguments = parse_members(argv)
        classes = [member_class(name) for name, _arguments in members]
    except ValueError as exc:  # UsageError, or graph.GraphError: a name the graph does not have
        print(f"aria_nav {NAME}: {exc}", file=sys.stderr, flush=True)
        return EXIT_CONFIG_ERROR
    free_dead_shared_memory(NAME)
    try:
        rclpy.init(args=[NAME, *global_arguments], signal_handler_options=SignalHandlerOptions.NO)
    except _rclpy.RCLError as exc:
        print(f"aria_nav {NAME}: {exc}", file=sys.stderr, flush=True)
        return EXIT_CONFIG_ERROR
    nodes: List[AriaNode] = []
    failed = NAME
    try:
        executor = SingleThreadedExecutor()
        for (name, arguments), cls in zip(members, classes):
            if shutdown.stop.is_set():  # stopped while starting up: no further model to load for nothing
                break
            failed = name
            node = cls(cli_args=list(arguments), use_global_arguments=False)
            nodes.append(node)
            if node.flushes:
                shutdown.on_deadline(node.flush)
            executor.add_node(node)
        failed = NAME
        while not shutdown.stop.is_set() and rclpy.ok() and nodes:
            spin_once(executor, lambda exc: (_member_of(exc, nodes) or nodes[0]).report_callback_error(exc))
            for node in [n for n in nodes if n.exit_requested]:
                if node.exit_error is not None:
                    failed = node.get_name()
                    raise node.exit_error
                executor.remove_node(node)
                nodes.remove(node)
                node.close()
                node.destroy_node()
                print(f"aria_nav {NAME}: {node.get_name()} finished; "
                      f"{len(nodes)} member{'s' if len(nodes) != 1 else ''} still running", flush=True)
    except ConfigError as exc:
        print(f"aria_nav {failed}: {exc}", file=sys.stderr, flush=True)
        leave_on_config_error(shutdown, list(reversed(nodes)))
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:  # (not reached after a ConfigError: the process has left)
        close_nodes(shutdown, list(reversed(nodes)))  # the consumers first, the camera last
    return 0


def main() -> None:
    shutdown = stop_on_signals(NAME)
    try:
        code = run_composed(sys.argv[1:], shutdown=shutdown)
    except BaseException:  # noqa: BLE001 - a bug outside any callback: its traceback, then exit 1
        traceback.print_exc()
        code = 1
    shutdown.finish(code)


if __name__ == "__main__":
    main()
