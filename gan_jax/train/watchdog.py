"""A watchdog for long runs: ends the process when training stops making progress.

``gan-jax train/resume --watchdog SECONDS`` starts one :class:`Watchdog` around the
training loop; the loop calls :meth:`Watchdog.beat` each time a chunk of steps
has finished (with its logging, samples, evaluation and checkpoint). If no beat
comes within ``SECONDS``, the watchdog writes to stderr one line naming the step
last finished, then the Python stack of every thread
(:func:`faulthandler.dump_traceback`), and ends the process at once with exit
status 3 (``os._exit``: it works even when the main thread is stuck in native
code and will never return to Python), so that a scheduler can restart the run
with ``gan-jax resume`` from its last checkpoint (the run lock left behind is
stale and taken over).

The first chunk also compiles the training program (and a resumed run restores
its checkpoint first), so until the first beat the allowance is ``first_seconds``
(default ten times ``SECONDS``). Only Python stacks are shown: the threads of
XLA's own runtime (its CPU thread pool, device streams) are native and out of
the watchdog's reach; a stack ending in a JAX call says which call waits.
"""

import faulthandler
import math
import os
import sys
import threading
import time
from typing import Callable, Optional

__all__ = ["Watchdog", "EXIT_STATUS"]

#: The exit status of a process the watchdog ends.
EXIT_STATUS = 3


class Watchdog:
    """Ends the process (status 3) when :meth:`beat` is not called for ``seconds``
    (``first_seconds`` before the first beat). ``seconds=None``: does nothing.
    Use as a context manager, or call :meth:`close` when training ends."""

    def __init__(self, seconds: Optional[float], first_seconds: Optional[float] = None,
                 exit_process: Callable[[int], None] = os._exit, stream=None):
        self.seconds = seconds
        self.first_seconds = first_seconds if first_seconds is not None else (10 * seconds if seconds else None)
        self._exit, self._stream = exit_process, stream
        self._step: Optional[int] = None
        self._last = time.monotonic()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._thread = None
        if seconds is not None:
            self._thread = threading.Thread(target=self._watch, name="gan_jax-watchdog", daemon=True)
            self._thread.start()

    def beat(self, step: int) -> None:
        """Training finished step ``step``: the timer starts again."""
        with self._lock:
            self._step, self._last = int(step), time.monotonic()

    def close(self) -> None:
        """Stop watching (training ended, normally or with an error)."""
        self._closed.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    def __enter__(self) -> "Watchdog":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _allowed(self) -> float:
        return self.seconds if self._step is not None else self.first_seconds

    def _watch(self) -> None:
        """The watching thread: wakes when the allowance since the last beat runs out."""
        while True:
            with self._lock:
                left = self._allowed() - (time.monotonic() - self._last)
            if left <= 0:
                return self._fire()
            if self._closed.wait(left):
                return

    def _fire(self) -> None:
        """Say what stalled, show every Python thread's stack and end the process."""
        with self._lock:
            step, allowed = self._step, self._allowed()
        last = f"the last step finished was {step}" if step is not None else "no step had finished yet"
        line = (f"gan-jax: watchdog: no training step finished within {allowed:g} s ({last}); the Python "
                f"stack of every thread follows (XLA's native threads are not shown); exiting with status "
                f"{EXIT_STATUS} so that the run can be continued with `gan-jax resume` from its last checkpoint\n")
        stream = self._stream if self._stream is not None else sys.stderr
        fd = stream.fileno()
        os.write(fd, line.encode())   # unbuffered: a stuck thread may hold Python's stream locks
        faulthandler.dump_traceback(file=fd, all_threads=True)
        self._exit(EXIT_STATUS)
