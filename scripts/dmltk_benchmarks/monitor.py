"""Peak memory of a process tree, other work on the machine, the quiet wait.

The sampler runs in the benchmark's parent, never in the measured process,
so that sampling does not compete with the measured work for its GIL.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import psutil

# A timing counts as undisturbed when other processes used fewer cores than
# this while it ran.
QUIET_CORES = 0.3


def tree_usage(process: psutil.Process) -> tuple[int, float]:
    """Resident bytes and CPU seconds of a process and all its descendants.

    ``(0, 0.0)`` once the process is gone.
    """
    try:
        members = [process, *process.children(recursive=True)]
    except psutil.Error:
        return 0, 0.0
    rss, cpu = 0, 0.0
    for member in members:
        try:
            rss += member.memory_info().rss
            times = member.cpu_times()
            cpu += times.user + times.system
        except psutil.Error:
            # A worker may exit between listing and reading: skip it.
            pass
    return rss, cpu


def busy_cpu_seconds() -> float:
    """CPU seconds the whole machine has spent busy since boot."""
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


def own_cpu_seconds() -> float:
    """CPU seconds of this process (the sampler included)."""
    times = psutil.Process().cpu_times()
    return times.user + times.system


class TreeSampler:
    """Sample a process tree's memory and the machine's CPU in a thread.

    Runs in the benchmark's parent, not in the measured process, so that the
    sampling never competes with the measured work for its GIL. Besides the
    tree's resident memory it records the CPU time of the tree, of this
    process and of the whole machine, so that CPU used by anything else
    during a timing (another engineer's tests) can be reported.

    Parameters
    ----------
    pid : int
        Root of the tree.
    interval : float
        Seconds between samples.
    """

    def __init__(self, pid: int, interval: float = 0.05):
        self._process = psutil.Process(pid)
        self._interval = interval
        self._stop = threading.Event()
        # (time.time(), tree rss, tree cpu, machine busy cpu, own cpu)
        self.samples: list[tuple[float, int, float, float, float]] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            rss, cpu = tree_usage(self._process)
            self.samples.append(
                (time.time(), rss, cpu, busy_cpu_seconds(), own_cpu_seconds())
            )
            self._stop.wait(self._interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _window(self, start: float | None, end: float | None) -> list:
        return [
            sample
            for sample in self.samples
            if (start is None or sample[0] >= start)
            and (end is None or sample[0] <= end)
        ]

    def peak_rss(self, start: float | None = None, end: float | None = None) -> int:
        """Largest tree RSS, over the whole run or between two ``time.time()``."""
        return max((sample[1] for sample in self._window(start, end)), default=0)

    def other_cores(self, start: float, end: float) -> float:
        """Cores, on average, busy with anything but the tree and this process.

        Measured between the first and last samples inside the window; NaN
        when fewer than two samples fall in it.
        """
        window = self._window(start, end)
        if len(window) < 2:
            return float("nan")
        (t0, _, tree0, busy0, own0), (t1, _, tree1, busy1, own1) = window[0], window[-1]
        others = (busy1 - busy0) - (tree1 - tree0) - (own1 - own0)
        return max(0.0, others) / (t1 - t0)


def wait_until_quiet(max_cores: float, timeout: float, log: Callable) -> float:
    """Wait until the machine's other work uses at most ``max_cores`` cores.

    Checks once a second (this process is idle meanwhile), gives up after
    ``timeout`` seconds. Returns the last measured load, in cores.
    """
    deadline = time.monotonic() + timeout
    while True:
        busy = psutil.cpu_percent(interval=1.0) / 100 * (psutil.cpu_count() or 1)
        if busy <= max_cores or time.monotonic() > deadline:
            return busy
        log(f"machine busy ({busy:.1f} cores used by others): waiting")
        time.sleep(4.0)
