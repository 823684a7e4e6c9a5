"""Fixtures shared by the test modules.

`ros_domain`: a ROS domain id that no other test holding this fixture uses at the same time, on this machine, in
any pytest process (`module_ros_domain`: the same for a module's shared graph). It is the one way tests pick a
domain; code that cannot take a fixture calls reserve_domain() itself. Several people and CI jobs run DDS tests on
one host; ids derived from the process id can collide (pids 100 apart), and two tests on one domain hear each
other's frames. Each id is reserved by an exclusive lock on a file under the temp directory, released when the test
ends (or its process dies).
"""
import fcntl
import os
import tempfile
from pathlib import Path

import pytest

# Fast DDS maps a domain to UDP ports 7400 + 250 * id + ...; ids above 232 overflow the port range.
DOMAIN_IDS = range(1, 233)
LOCK_DIR = Path(tempfile.gettempdir()) / "aria_nav_ros_domains"


def reserve_domain():
    """(domain id, open lock file): the first id, starting at one derived from the pid, whose lock is free."""
    LOCK_DIR.mkdir(exist_ok=True)
    start = os.getpid() % len(DOMAIN_IDS)
    for offset in range(len(DOMAIN_IDS)):
        domain = DOMAIN_IDS[(start + offset) % len(DOMAIN_IDS)]
        lock = open(LOCK_DIR / f"{domain}.lock", "w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            continue
        return domain, lock
    raise RuntimeError(f"every ROS domain id {DOMAIN_IDS.start}..{DOMAIN_IDS.stop - 1} is held by another test")


@pytest.fixture
def ros_domain(monkeypatch):
    """A ROS domain id of this test's own, also set as ROS_DOMAIN_ID for the processes the test starts."""
    domain, lock = reserve_domain()
    monkeypatch.setenv("ROS_DOMAIN_ID", str(domain))
    try:
        yield domain
    finally:
        lock.close()  # releases the lock


@pytest.fixture(scope="module")
def module_ros_domain():
    """A ROS domain id held for the whole module, for module-scoped graphs (which pass it on themselves: the
    environment is only set per test, by ros_domain)."""
    domain, lock = reserve_domain()
    try:
        yield domain
    finally:
        lock.close()
