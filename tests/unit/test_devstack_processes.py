"""How concilia.devstack starts the stack's processes: each in a process group of its own (so a
terminal's Ctrl-C reaches only the devstack, and the devstack's signals reach the whole child),
in the devstack's own session (docs/adr/0017-local-stack-process-group.md)."""
import os
import signal
import sys

from concilia.devstack import Process


def test_a_child_has_its_own_process_group_in_the_devstack_session(tmp_path):
    process = Process("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"], dict(os.environ),
                      tmp_path / "sleeper.log")
    process.start()
    try:
        pid = process.popen.pid
        assert os.getpgid(pid) == pid != os.getpgid(0)
        assert os.getsid(pid) == os.getsid(0)
    finally:
        process.signal(signal.SIGKILL)
        process.popen.wait(5)
    assert not process.running
