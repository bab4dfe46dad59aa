"""Ctrl-C (SIGINT) and SIGTERM during training: noted by a handler and honoured by the loop at
the next step boundary, where it writes a checkpoint and stops; a second signal stops at once."""

from __future__ import annotations

import signal
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupts:
    """A context manager holding the handlers (main thread only; elsewhere it notes nothing)."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.signal: int | None = None  # the first signal received
        self._old: dict = {}

    def __enter__(self) -> Interrupts:
        if self.enabled and threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                if signal.getsignal(sig) is signal.SIG_IGN:  # nohup, a background job: keep
                    continue
                self._old[sig] = signal.signal(sig, self._note)
        return self

    def __exit__(self, *exc) -> None:
        self.restore()

    def restore(self) -> None:
        """Put the caller's handlers back (before the end-of-run phase: Ctrl-C stops it)."""
        for sig, handler in self._old.items():
            signal.signal(sig, handler)
        self._old = {}

    def _note(self, signum, frame) -> None:
        if self.signal is not None:  # a second Ctrl-C: the user will not wait
            self.restore()
            raise KeyboardInterrupt
        self.signal = signum

    @property
    def requested(self) -> bool:
        return self.signal is not None

    @property
    def name(self) -> str:
        return signal.Signals(self.signal).name if self.signal else ""
