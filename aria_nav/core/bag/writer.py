"""Writing rosbag2 recordings (MCAP or SQLite 3) with rosbags, on a thread of the writer's own.

Callers (subscription callbacks) only queue messages: they never wait for the disk, and SQLite's connection stays on
the thread that opened it, whichever threads record. close() writes what is queued, then the storage's index and
metadata.yaml: only a closed bag is complete (an MCAP file gets its footer on close).
"""
from __future__ import annotations

import queue
import threading
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Sequence

from rosbags.interfaces import Qos
from rosbags.rosbag2 import StoragePlugin, Writer

from aria_nav.core.bag.definitions import MessageDefinitions, TypeDefinition
from aria_nav.core.bag.errors import BagError

STORAGES = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}
_BAG_VERSION = 9  # rosbag2 metadata version of ROS 2 Jazzy and Kilted
_CLOSE = object()


class _NewTopic(NamedTuple):
    topic: str
    msgtype: str
    definition: TypeDefinition
    offered_qos: List[Qos]


class _Message(NamedTuple):
    topic: str
    log_time_ns: int
    data: bytes


class BagWriter:
    """A new bag at `path` (a folder, which must not exist): add_topic() each topic, write() messages, close()."""

    def __init__(self, path, storage: str = "mcap", definitions: Optional[MessageDefinitions] = None):
        self.path = Path(path)
        if storage not in STORAGES:
            raise BagError(f"storage '{storage}' is not one of {', '.join(STORAGES)}")
        if self.path.exists():
            raise BagError(f"output '{self.path}' exists already (a bag is never overwritten)")
        if not self.path.parent.is_dir():
            raise BagError(f"output '{self.path}': folder '{self.path.parent}' does not exist")
        self.storage = storage
        self.definitions = definitions or MessageDefinitions()
        self.counts: Dict[str, int] = {}  # messages queued per topic
        self.failure: Optional[str] = None  # set when writing failed; later messages are dropped
        self._queue: "queue.SimpleQueue" = queue.SimpleQueue()
        self._opened = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"bag writer {self.path.name}", daemon=True)
        self._thread.start()
        self._opened.wait()
        if self.failure:
            self._thread.join()
            raise BagError(self.failure)

    def add_topic(self, topic: str, msgtype: str, definition: Optional[TypeDefinition] = None,
                  offered_qos: Sequence[Qos] = ()) -> None:
        """Declare a topic before writing to it; `definition` defaults to the known definition of `msgtype`."""
        if topic in self.counts:
            raise BagError(f"topic '{topic}' was added to bag '{self.path}' already")
        definition = definition or self.definitions.definition(msgtype)
        self.counts[topic] = 0
        self._queue.put(_NewTopic(topic, msgtype, definition, list(offered_qos)))

    def write(self, topic: str, log_time_ns: int, data: bytes) -> None:
        """Queue one CDR serialized message of an added topic; `log_time_ns` is when it was received."""
        if topic not in self.counts:
            raise BagError(f"topic '{topic}' was not added to bag '{self.path}'")
        if self.failure:
            return
        self.counts[topic] += 1
        self._queue.put(_Message(topic, log_time_ns, data))

    def close(self) -> Dict[str, int]:
        """Write everything queued and finish the bag; returns the message count per topic."""
        if self._thread.is_alive():
            self._queue.put(_CLOSE)
            self._thread.join()
        if self.failure:
            raise BagError(self.failure)
        return dict(self.counts)

    def _run(self) -> None:
        try:
            writer = Writer(self.path, version=_BAG_VERSION, storage_plugin=STORAGES[self.storage])
            writer.open()
        except Exception as exc:  # noqa: BLE001 - any failure to create the bag is reported by __init__
            self.failure = f"output '{self.path}' cannot be created: {exc}"
            return
        finally:
            self._opened.set()
        connections = {}
        try:
            for item in iter(self._queue.get, _CLOSE):
                if isinstance(item, _NewTopic):
                    connections[item.topic] = writer.add_connection(
                        item.topic, item.msgtype, msgdef=item.definition.text, rihs01=item.definition.rihs01,
                        offered_qos_profiles=item.offered_qos)
                else:
                    writer.write(connections[item.topic], item.log_time_ns, item.data)
        except Exception as exc:  # noqa: BLE001 - disk full, permissions: reported by close()
            self.failure = f"writing bag '{self.path}' failed: {exc}"
        try:
            writer.close()
        except Exception as exc:  # noqa: BLE001
            self.failure = self.failure or f"closing bag '{self.path}' failed: {exc}"
