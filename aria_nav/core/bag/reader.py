"""Reading rosbag2 recordings with rosbags: a bag folder (metadata.yaml + .mcap or .db3 files) or a bare .mcap or
.db3 file. Problems (missing path, empty or truncated file, not a bag, unknown topic) are BagErrors naming them."""
from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from rosbags.highlevel import AnyReader, AnyReaderError
from rosbags.interfaces import Qos
from rosbags.rosbag2 import ReaderError
from rosbags.serde import SerdeError
from rosbags.typesys import Stores, get_typestore

from aria_nav.core.bag.errors import BagError

MCAP_MAGIC = b"\x89MCAP0\r\n"
STORAGE_SUFFIXES = {".mcap": "mcap", ".db3": "sqlite3"}
_READ_ERRORS = (AnyReaderError, ReaderError, SerdeError, OSError)


@dataclass(frozen=True)
class TopicSummary:
    name: str
    msgtype: str
    count: int
    offered_qos: Tuple[Qos, ...]  # QoS of the publishers the recorder saw (may be empty)


@dataclass(frozen=True)
class BagMessage:
    topic: str
    msgtype: str
    log_time_ns: int  # when the recorder received it; the message's own header stamp is inside `data`
    data: bytes  # CDR serialized, exactly as recorded


def _storage_files(path: Path) -> List[Path]:
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix in STORAGE_SUFFIXES)
    return [path]


def _path_problem(path: Path) -> Optional[str]:
    """What makes `path` unreadable, in plainer words than rosbags' own messages; None if nothing obvious."""
    if not path.exists():
        return "no such file or directory"
    if path.is_file() and path.suffix not in STORAGE_SUFFIXES:
        return "not a bag (a bag is a folder with metadata.yaml, or a .mcap or .db3 file)"
    files = _storage_files(path)
    for file in files:
        size = file.stat().st_size
        if size == 0:
            return f"'{file.name}' is empty"
        if file.suffix == ".mcap":
            with file.open("rb") as stream:
                head = stream.read(len(MCAP_MAGIC))
                stream.seek(max(0, size - len(MCAP_MAGIC)))
                tail = stream.read()
            if head != MCAP_MAGIC:
                return f"'{file.name}' is not an MCAP file"
            if tail != MCAP_MAGIC:
                return (f"'{file.name}' is truncated (no MCAP footer: the recording was not closed, e.g. the "
                        f"recorder was killed)")
    if path.is_dir() and not (path / "metadata.yaml").is_file():
        if files:
            return f"the folder has no metadata.yaml (give its storage file '{files[0].name}' to read that alone)"
        return "the folder is empty" if not any(path.iterdir()) else "not a bag (the folder has no metadata.yaml)"
    return None


class BagReader:
    """An open bag. Messages come in log-time order as BagMessage (raw CDR bytes); deserialize() decodes one with
    the definitions stored in the bag (or the ROS 2 Kilted standard types for bags that hold none)."""

    def __init__(self, path):
        self.path = Path(path)
        problem = _path_problem(self.path)
        if problem:
            raise BagError(f"bag '{self.path}': {problem}")
        try:
            self._reader = AnyReader([self.path], default_typestore=get_typestore(Stores.ROS2_KILTED))
            self._reader.open()
        except _READ_ERRORS as exc:
            raise BagError(f"bag '{self.path}' cannot be read: {exc}") from None
        self.topics: Dict[str, TopicSummary] = {
            name: TopicSummary(name, info.msgtype or "(several types)", info.msgcount,
                               tuple(q for c in info.connections for q in c.ext.offered_qos_profiles))
            for name, info in self._reader.topics.items()
        }
        self.files = _storage_files(self.path)
        self.storage = STORAGE_SUFFIXES[self.files[0].suffix] if self.files else "unknown"

    @property
    def message_count(self) -> int:
        return self._reader.message_count

    @property
    def start_ns(self) -> int:
        """Log time of the first message (0 for a bag without messages)."""
        return self._reader.start_time if self.message_count else 0

    @property
    def end_ns(self) -> int:
        """Log time of the last message (rosbags' end_time is one past it)."""
        return self._reader.end_time - 1 if self.message_count else 0

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns

    def check_topics(self, topics: Sequence[str]) -> None:
        unknown = [t for t in topics if t not in self.topics]
        if unknown:
            raise BagError(f"bag '{self.path}' has no topic {', '.join(unknown)} "
                           f"(its topics: {', '.join(sorted(self.topics)) or 'none'})")

    def messages(self, topics: Optional[Sequence[str]] = None, start_ns: Optional[int] = None
                 ) -> Iterator[BagMessage]:
        """Messages of `topics` (all when None) with log time >= start_ns, in log-time order."""
        if topics is not None:
            self.check_topics(topics)
        connections = [c for c in self._reader.connections if topics is None or c.topic in topics]
        if not connections:
            return
        try:
            for connection, log_time_ns, data in self._reader.messages(connections, start=start_ns):
                yield BagMessage(connection.topic, connection.msgtype, log_time_ns, bytes(data))
        except _READ_ERRORS as exc:
            raise BagError(f"bag '{self.path}' cannot be read: {exc}") from None

    def deserialize(self, message: BagMessage):
        """The message as a rosbags object (fields like the ROS message; arrays of numbers are numpy arrays)."""
        try:
            return self._reader.deserialize(message.data, message.msgtype)
        except _READ_ERRORS as exc:
            raise BagError(f"bag '{self.path}': message on '{message.topic}' cannot be decoded as "
                           f"{message.msgtype}: {exc}") from None

    def close(self) -> None:
        self._reader.close()

    def __enter__(self) -> "BagReader":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _format_time(ns: int) -> str:
    stamp = datetime.datetime.fromtimestamp(ns / 1e9, tz=datetime.timezone.utc)
    return f"{stamp:%b %d %Y %H:%M:%S}.{ns % 1_000_000_000 // 1_000_000:03d} UTC ({ns / 1e9:.9f})"


def format_info(reader: BagReader) -> str:
    """A summary in the spirit of `ros2 bag info`: files, storage, duration, times, and per topic type and count."""
    size = sum(f.stat().st_size for f in reader.files)
    lines = [
        f"Files:             {', '.join(f.name for f in reader.files)}",
        f"Bag size:          {size / 2 ** 20:.1f} MiB",
        f"Storage id:        {reader.storage}",
        f"Duration:          {reader.duration_ns / 1e9:.3f} s",
    ]
    if reader.message_count:
        lines += [f"Start:             {_format_time(reader.start_ns)}",
                  f"End:               {_format_time(reader.end_ns)}"]
    lines.append(f"Messages:          {reader.message_count}")
    lines.append(f"Topic information: {len(reader.topics)} topics")
    name_width = max((len(t.name) for t in reader.topics.values()), default=0)
    type_width = max((len(t.msgtype) for t in reader.topics.values()), default=0)
    for topic in sorted(reader.topics.values(), key=lambda t: t.name):
        lines.append(f"  {topic.name:<{name_width}}  {topic.msgtype:<{type_width}}  count {topic.count}")
    return "\n".join(lines)
