"""Fast DDS segments left by participants that died: removed when a node starts, live ones never touched."""
import fcntl
import os
import re
import subprocess
import sys
import time

import pytest

from aria_nav.ros.shm_segments import SHM_DIR, remove_dead_segments


def _segment(directory, name, size=4096, age_s=120.0):
    segment, lock_file = directory / name, directory / f"{name}_el"
    segment.write_bytes(b"\0" * size)
    lock_file.write_bytes(b"")
    _age([segment], age_s)
    return segment, lock_file



def _participant_script(name, then):
    """A Python program: one rclpy node `name` with the project's Fast DDS profile (its 64 MB segment), then `then`;
    `MAPPED` in it is the Fast DDS segments this process has mapped."""
    return ("import re, time, rclpy\n"
            "import aria_nav\n"
            f"rclpy.init(); node = rclpy.create_node({name!r})\n"
            "MAPPED = lambda: set(re.findall(r'/dev/shm/fastdds_[0-9a-f]{16}\\b', open('/proc/self/maps').read()))\n"
            + then)


def _segment_paths(words):
    return {SHM_DIR / re.sub(r"^/dev/shm/", "", word) for word in words}


def test_dead_segments_go_live_young_and_foreign_files_stay(tmp_path):
    dead = _segment(tmp_path, "fastdds_00112233445566aa", size=8192)
    live = _segment(tmp_path, "fastdds_00112233445566bb")
    young = _segment(tmp_path, "fastdds_00112233445566cc", age_s=0.0)
    port = _segment(tmp_path, "fastdds_port7413")  # Fast DDS reuses its port files
    other = tmp_path / "not_fastdds_el"
    other.write_bytes(b"")
    holder = os.open(live[1], os.O_RDONLY)
    fcntl.flock(holder, fcntl.LOCK_EX)  # as a live participant holds its lock
    try:
        assert remove_dead_segments(tmp_path) == (1, 8192)
    finally:
        os.close(holder)
    assert not any(p.exists() for p in dead)
    assert all(p.exists() for p in (*live, *young, *port, other))


@pytest.mark.skipif(not SHM_DIR.is_dir(), reason="no /dev/shm on this system")
def test_a_killed_participants_segment_is_removed_and_a_running_ones_is_not(ros_domain):
    """A real rclpy process: while it runs its segment stays; once SIGKILLed, the segment is removed."""
    script = _participant_script("shm_probe", "print(*MAPPED(), flush=True)\ntime.sleep(600)\n")
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        segments = _segment_paths(process.stdout.readline().split())
        assert segments and all(s.exists() for s in segments)
        _age(segments)  # past MIN_AGE_S: only the lock protects it now
        remove_dead_segments()
        assert all(s.exists() for s in segments), "a live participant's segment was removed"
    finally:
        process.kill()
        process.wait()
    remove_dead_segments()
    assert not any(s.exists() for s in segments)


def _age(segments, age_s=120.0):
    old = time.time() - age_s
    for segment in segments:
        for path in (segment, segment.with_name(segment.name + "_el")):
            os.utime(path, (old, old))


def test_a_process_removes_its_own_segments_and_not_a_peers(ros_domain):
    """remove_own_segments (a process leaving without destroying its participant): its own segment goes, that of
    another live participant on the same domain (which it may have mapped to read from) stays."""
    peer_script = _participant_script("shm_peer", "print(*MAPPED(), flush=True)\ntime.sleep(600)\n")
    leaving_script = _participant_script(
        "shm_leaving",
        "from aria_nav.ros.shm_segments import remove_own_segments\n"
        "time.sleep(3)\n"  # discovery: the peer's segment may be mapped here too
        "mapped = MAPPED()\n"
        "print(remove_own_segments(), *mapped, flush=True)\n")
    peer = subprocess.Popen([sys.executable, "-c", peer_script], stdout=subprocess.PIPE, text=True)
    try:
        peer_segments = _segment_paths(peer.stdout.readline().split())
        assert peer_segments
        done = subprocess.run([sys.executable, "-c", leaving_script], capture_output=True, text=True, timeout=120)
        removed, *mapped = done.stdout.split()
        own = _segment_paths(mapped) - peer_segments
        assert int(removed) == len(own) >= 1, done.stdout + done.stderr
        assert not any(s.exists() or s.with_name(s.name + "_el").exists() for s in own)
        assert all(s.exists() for s in peer_segments), "a live peer's segment was removed"
    finally:
        peer.kill()
        peer.wait()
    remove_dead_segments()
