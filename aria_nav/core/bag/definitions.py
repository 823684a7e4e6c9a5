"""Message definitions for a bag's schema records: the text standard tools decode with, and the RIHS01 type hash.

Types come from the rosbags type store of ROS 2 Kilted (every standard interface). Where that store lacks a type
(a user's own package) or holds another version of it (the running graph advertises a different hash, e.g. another
distribution), the interface files installed with the package are parsed instead, with every type they reference:
share/<package>/msg/<Type>.msg, the files rosbag2 itself reads.
"""
from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Optional, Sequence

from rosbags.interfaces import Nodetype
from rosbags.typesys import Stores, TypesysError, get_types_from_msg, get_typestore

from aria_nav.core.bag.errors import BagError


@dataclass(frozen=True)
class TypeDefinition:
    text: str  # the type's .msg text followed by those of the types it uses (rosbag2's 'ros2msg' encoding)
    rihs01: str  # 'RIHS01_<sha256>', the hash ROS 2 advertises for the type


def interface_prefixes() -> List[Path]:
    """Install prefixes holding share/<package>/msg: those of a sourced ROS installation, then this Python
    environment (the ROS 2 wheels install their interface files there)."""
    prefixes = [Path(p) for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    return prefixes + [Path(sys.prefix)]


def _referenced_types(fields) -> Iterator[str]:
    for _name, (kind, detail) in fields:
        if kind == Nodetype.NAME:
            yield detail
        elif kind in (Nodetype.ARRAY, Nodetype.SEQUENCE) and detail[0][0] == Nodetype.NAME:
            yield detail[0][1]


class MessageDefinitions:
    def __init__(self, prefixes: Optional[Sequence[Path]] = None):
        self.typestore = get_typestore(Stores.ROS2_KILTED)
        self._installed = get_typestore(Stores.EMPTY)
        self._prefixes = list(prefixes) if prefixes is not None else interface_prefixes()
        # One caller at a time: a type is registered before the types it uses, so another thread could find it
        # and generate its definition without them (the recorder's first discovery raced its timer's).
        self._lock = threading.Lock()

    def definition(self, msgtype: str, expected_rihs01: Optional[str] = None) -> TypeDefinition:
        """Definition of `msgtype` ('package/msg/Type'); `expected_rihs01` is the hash the graph advertises."""
        with self._lock:
            store = self.typestore
            if msgtype not in store.fielddefs or (expected_rihs01 and store.hash_rihs01(msgtype) != expected_rihs01):
                self._load_installed(msgtype)
                store = self._installed
            try:
                text, _ = store.generate_msgdef(msgtype, ros_version=2)
            except TypesysError as exc:
                raise BagError(f"message definition of '{msgtype}': {exc}") from None
            return TypeDefinition(text, store.hash_rihs01(msgtype))

    def _load_installed(self, msgtype: str) -> None:
        pending = [msgtype]
        while pending:
            name = pending.pop()
            if name in self._installed.fielddefs:
                continue
            path = self._interface_file(name)
            try:
                types = get_types_from_msg(path.read_text(), name)
                self._installed.register(types)
            except (OSError, TypesysError) as exc:
                raise BagError(f"message definition '{path}': {exc}") from None
            pending.extend(_referenced_types(types[name][1]))

    def _interface_file(self, msgtype: str) -> Path:
        parts = msgtype.split("/")
        if len(parts) != 3 or not all(parts):
            raise BagError(f"'{msgtype}' is not a message type name like sensor_msgs/msg/Image")
        package, kind, name = parts
        relative = Path("share", package, kind, f"{name}.msg")
        for prefix in self._prefixes:
            if (prefix / relative).is_file():
                return prefix / relative
        searched = ", ".join(str(p) for p in self._prefixes)
        raise BagError(f"no definition of message type '{msgtype}': not a ROS 2 Kilted standard type and no "
                       f"{relative} under {searched}")
