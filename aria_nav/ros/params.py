"""Declared, described and validated node parameters.

A node lists its parameters as Param specs; declare_parameters() declares each with its description (visible in
`ros2 param describe`), reads the values (from the YAML file and overrides), checks them and returns a plain
namespace. Any problem raises ParameterError naming the parameter; runtime.run_node turns it into one line and
exit code 2 instead of a traceback.
"""
from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Callable, Optional, Sequence

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, ParameterType
from rclpy.exceptions import InvalidParameterTypeException, ParameterException
from rclpy.node import Node


class ConfigError(Exception):
    """A configuration problem the user can fix; reported as one line, never a traceback."""


class ParameterError(ConfigError):
    def __init__(self, name: str, problem: str):
        super().__init__(f"parameter '{name}': {problem}")
        self.name = name


_LIST_TYPES = {
    str: ParameterType.PARAMETER_STRING_ARRAY,
    float: ParameterType.PARAMETER_DOUBLE_ARRAY,
    int: ParameterType.PARAMETER_INTEGER_ARRAY,
    bool: ParameterType.PARAMETER_BOOL_ARRAY,
}
_SCALAR_TYPES = {
    str: ParameterType.PARAMETER_STRING,
    float: ParameterType.PARAMETER_DOUBLE,
    int: ParameterType.PARAMETER_INTEGER,
    bool: ParameterType.PARAMETER_BOOL,
}


@dataclass(frozen=True)
class Param:
    name: str
    default: Any
    description: str
    min: Optional[float] = None  # inclusive bounds for numbers
    max: Optional[float] = None
    choices: Optional[Sequence[Any]] = None
    item_type: type = str  # element type of list parameters (needed when the default list is empty)
    check: Optional[Callable[[Any], Optional[str]]] = None  # returns a problem description, or None

    @property
    def type(self) -> int:
        if isinstance(self.default, (list, tuple)):
            return _LIST_TYPES[self.item_type]
        return _SCALAR_TYPES[type(self.default)]

    def descriptor(self) -> ParameterDescriptor:
        constraints = []
        if self.choices is not None:
            constraints.append("one of: " + ", ".join(str(c) for c in self.choices))
        descriptor = ParameterDescriptor(description=self.description, type=self.type,
                                         additional_constraints="; ".join(constraints))
        # Ranges only on scalars; bounds are checked by validate() so the error names the parameter plainly.
        if self.min is not None and self.max is not None and not isinstance(self.default, (list, tuple)):
            if isinstance(self.default, float):
                descriptor.floating_point_range = [FloatingPointRange(from_value=float(self.min),
                                                                      to_value=float(self.max))]
            elif isinstance(self.default, int) and not isinstance(self.default, bool):
                descriptor.integer_range = [IntegerRange(from_value=int(self.min), to_value=int(self.max), step=1)]
        return descriptor

    def validate(self, value: Any) -> Any:
        if isinstance(self.default, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, float) and not math.isfinite(value):
            raise ParameterError(self.name, f"{value} is not a finite number")
        values = list(value) if isinstance(value, (list, tuple)) else [value]
        for item in values:
            if self.min is not None and isinstance(item, (int, float)) and item < self.min:
                raise ParameterError(self.name, f"{item} is below the minimum {self.min}")
            if self.max is not None and isinstance(item, (int, float)) and item > self.max:
                raise ParameterError(self.name, f"{item} is above the maximum {self.max}")
            if self.choices is not None and item not in self.choices:
                raise ParameterError(self.name, f"'{item}' is not one of {', '.join(map(str, self.choices))}")
        if self.check is not None:
            problem = self.check(value)
            if problem:
                raise ParameterError(self.name, problem)
        return list(value) if isinstance(value, (list, tuple)) else value


def declare_parameters(node: Node, params: Sequence[Param]) -> SimpleNamespace:
    """Declare, read and validate `params`; returns a namespace with one attribute per parameter."""
    values = {}
    for param in params:
        try:
            declared = node.declare_parameter(param.name, param.default, param.descriptor())
        except ParameterException as exc:  # wrong type or outside the descriptor's range
            # rclpy's text ends with ': <parameter name>' (the line names it already); a range error's reason
            # follows 'Reason: '.
            problem = str(exc).rsplit(":", 1)[0].split("Reason: ")[-1].strip() or type(exc).__name__
            whole = re.search(r"to '(-?\d+)' of type 'INTEGER'", problem)
            if isinstance(exc, InvalidParameterTypeException) and isinstance(param.default, float) and whole:
                problem += f" (write {whole.group(1)}.0)"
            raise ParameterError(param.name, problem) from None
        except Exception as exc:  # rclpy raises plain TypeError/ValueError for some mismatches
            raise ParameterError(param.name, str(exc)) from None
        values[param.name.replace(".", "_")] = param.validate(declared.value)
    return SimpleNamespace(**values)


def field_default(config_type: type, name: str) -> Any:
    """The default of field `name` of the dataclass `config_type`: a parameter's default where its value ends up
    in that config, so that the default lives once (in the core's config)."""
    found = next((f for f in dataclasses.fields(config_type) if f.name == name), None)
    if found is None:
        raise AttributeError(f"{config_type.__name__} has no field '{name}'")
    if found.default is not dataclasses.MISSING:
        return found.default
    return found.default_factory()


def config_from(cfg: SimpleNamespace, config_type: type, prefix: str = "", **values: Any) -> Any:
    """The dataclass `config_type` built from a node's declared parameters: each field takes the parameter
    `prefix + name` (or `name`) where the node declares one, `values` set the others (and win), the rest keep
    their defaults."""
    kwargs = {}
    for item in dataclasses.fields(config_type):
        if item.name in values:
            kwargs[item.name] = values.pop(item.name)
        elif hasattr(cfg, prefix + item.name):
            kwargs[item.name] = getattr(cfg, prefix + item.name)
        elif prefix and hasattr(cfg, item.name):
            kwargs[item.name] = getattr(cfg, item.name)
    if values:
        raise TypeError(f"{config_type.__name__} has no fields {', '.join(values)}")
    return config_type(**kwargs)
