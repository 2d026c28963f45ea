"""bertkit.engine.memory: glibc's mmap threshold fixed once per process, never over the user's own setting."""

from __future__ import annotations

import subprocess
import sys

import pytest

CODE = "import bertkit.engine.memory as m; print(m.fix_mmap_threshold(), m.fix_mmap_threshold())"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt is Linux-only")
def test_threshold_set_once_and_user_setting_wins():
    import os

    env = {k: v for k, v in os.environ.items() if k != "MALLOC_MMAP_THRESHOLD_"}
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, env=env,
                         check=True).stdout.split()
    assert out == ["True", "False"]  # set the first time (glibc), not again
    env["MALLOC_MMAP_THRESHOLD_"] = "131072"
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, env=env,
                         check=True).stdout.split()
    assert out == ["False", "False"]  # the user's setting is left alone


def test_peak_memory_does_not_follow_a_freed_array():
    """After a 16 MB array is freed, 4 MB blocks still come from their own mappings (returned when freed)."""
    code = """
import bertkit.engine.memory as m, numpy as np, resource
m.fix_mmap_threshold(1 << 20)
def rss():
    return int(open('/proc/self/statm').read().split()[1]) * 4096
a = np.ones(4_000_000, np.int32); del a      # a freed 16 MB block: glibc would raise its threshold to 16 MB
base = rss()
blocks = [np.ones(1 << 20, np.float32) for _ in range(20)]  # 20 x 4 MB
del blocks
print((rss() - base) // (1 << 20))
"""
    if not sys.platform.startswith("linux"):
        pytest.skip("Linux /proc")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert int(out) < 4  # MB still resident after freeing 80 MB of blocks (without the fix: 16 here, kept by the heap)


def test_the_training_loop_keeps_freed_heap_memory_and_returns_it_after():
    """Inside keep_freed_heap, 24 MB freed at the top of the heap stay resident (the next step's tensors reuse them
    without page faults); after it, they are returned. Outside it (the 128 KiB trim threshold), freeing returns them."""
    code = """
import bertkit.engine.memory as m, numpy as np
def rss():
    return int(open('/proc/self/statm').read().split()[1]) * 4096 >> 20
m.fix_mmap_threshold()
def kept():
    base = rss()
    blocks = [np.ones(1 << 20, np.float32) for _ in range(6)]  # 6 x 4 MB, below the 32 MB threshold: the heap
    del blocks
    return rss() - base
outside = kept()
with m.keep_freed_heap() as ok:
    inside = kept()
after = kept()
print(ok, outside, inside, after)
"""
    if not sys.platform.startswith("linux"):
        pytest.skip("Linux /proc")
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    ok, outside, inside, after = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                                env=env, check=True).stdout.split()
    assert ok == "True" and int(outside) < 4 and int(inside) >= 20 and int(after) < 4, (outside, inside, after)
