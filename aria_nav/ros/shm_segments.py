"""Shared-memory segments that Fast DDS participants left behind when their process died without closing them.

Every participant (one per node process) maps a segment `/dev/shm/fastdds_<16 hex digits>` of the profile's size
(config/fastdds_shm.xml: 64 MB) and holds an flock on its companion `<segment>_el` while it lives. A process that
ends without destroying its participant (SIGKILL, the out-of-memory killer, a second Ctrl-C, a hard exit before
rclpy's shutdown) leaves both files, and tmpfs keeps that memory in use until reboot: a day of tests and restarts
on this machine left 20 GB, and the out-of-memory killer then ended a test run. Fast DDS reuses its port files but
never these, so each node removes the dead ones when it starts (runtime.run_node, the composed process), and a
process that leaves without destroying its participant (runtime.leave_on_config_error) removes its own first.
"""
from __future__ import annotations

import fcntl
import os
import re
import time
from pathlib import Path
from typing import Iterator, Set, Tuple

SHM_DIR = Path("/dev/shm")
SEGMENT = re.compile(r"fastdds_[0-9a-f]{16}")
MIN_AGE_S = 30.0  # younger files may belong to a participant that is still being created (lock not taken yet)


def _owner_alive(lock_file: Path) -> bool:
    try:
        fd = os.open(lock_file, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also releases the lock just taken
    return False


def _participant_segments(directory: Path) -> Iterator[Tuple[Path, Path]]:
    """(lock file, segment) of every participant segment in `directory` (none where it cannot be listed: not
    Linux, nothing Fast DDS could have left there)."""
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        if name.endswith("_el") and SEGMENT.fullmatch(name[:-3]):
            yield directory / name, directory / name[:-3]


def remove_dead_segments(directory: Path = SHM_DIR, min_age_s: float = MIN_AGE_S) -> Tuple[int, int]:
    """Remove every participant segment whose lock no live process holds (and its lock file); returns (segments
    removed, bytes freed). Files younger than `min_age_s` are left alone."""
    removed = freed = 0
    now = time.time()
    for lock_file, segment in _participant_segments(directory):
        try:
            if now - lock_file.stat().st_mtime < min_age_s or _owner_alive(lock_file):
                continue
            size = segment.stat().st_size if segment.exists() else 0
            segment.unlink(missing_ok=True)
            lock_file.unlink(missing_ok=True)
        except OSError:  # another node removed it first, or it is not ours to remove
            continue
        removed += 1
        freed += size
    return removed, freed

def _inodes_locked_by(pid: int) -> Set[int]:
    """The inodes of the files process `pid` holds an flock on (/proc/locks: `N: FLOCK ADVISORY WRITE pid
    major:minor:inode start end`)."""
    inodes = set()
    try:
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return inodes
    for line in lines:
        fields = line.split()
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[4] == str(pid):
            inodes.add(int(fields[5].rsplit(":", 1)[-1]))
    return inodes


def remove_own_segments(directory: Path = SHM_DIR) -> int:
    """Remove the segments of this process's participants (those whose lock it holds), for a process about to
    leave without destroying them; the mappings stay valid until it exits. Returns how many."""
    own = _inodes_locked_by(os.getpid())
    removed = 0
    for lock_file, segment in _participant_segments(directory):
        try:
            if lock_file.stat().st_ino not in own:
                continue
            segment.unlink(missing_ok=True)
            lock_file.unlink(missing_ok=True)
        except OSError:
            continue
        removed += 1
    return removed
