"""How concilia.devstack starts the stack's processes: each in a session of its own, so in a process
group of its own too (a terminal's Ctrl-C reaches only the devstack, the devstack's signals reach
the whole child, and the scheduler's autogroup gives each component its own CPU share;
docs/adr/0024-local-stack-sessions.md)."""
import os
import signal
import sys

from concilia.devstack import Process


def test_a_child_has_a_session_and_process_group_of_its_own(tmp_path):
    process = Process("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"], dict(os.environ),
                      tmp_path / "sleeper.log")
    process.start()
    try:
        pid = process.popen.pid
        assert os.getpgid(pid) == pid != os.getpgid(0)
        assert os.getsid(pid) == pid != os.getsid(0)
    finally:
        process.signal(signal.SIGKILL)
        process.popen.wait(5)
    assert not process.running
