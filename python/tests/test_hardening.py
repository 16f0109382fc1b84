"""Issue 17 item 11: ``modelseal.harden_process()`` keeps secrets out of core dumps, on request only."""

import subprocess
import sys
import textwrap


def test_harden_process_makes_the_process_non_dumpable():
    # In a child process: hardening is irreversible and must not leak into the test runner.
    script = textwrap.dedent(
        """
        import ctypes, resource
        import modelseal
        libc = ctypes.CDLL(None, use_errno=True)
        PR_GET_DUMPABLE = 3
        before = libc.prctl(PR_GET_DUMPABLE, 0, 0, 0, 0)
        modelseal.harden_process()
        after = libc.prctl(PR_GET_DUMPABLE, 0, 0, 0, 0)
        print(before, after, resource.getrlimit(resource.RLIMIT_CORE))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], check=True, capture_output=True, text=True
    )
    assert out.stdout.split(maxsplit=2)[:2] == ["1", "0"], out.stdout
    assert out.stdout.strip().endswith("(0, 0)"), out.stdout
