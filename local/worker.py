"""A loop in a daemon thread, for the local stack's stand-ins of AWS-managed machinery."""

from __future__ import annotations

import abc
import logging
import threading

log = logging.getLogger("imagegen.local")


class BackgroundLoop(abc.ABC):
    name = "worker"
    idle_seconds = 0.2

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)

    @abc.abstractmethod
    def tick(self) -> bool:
        """Do one round of work; True when there was some (the loop goes on without waiting)."""

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.tick()
            except Exception:  # e.g. the moto server going away at shutdown
                log.debug("%s: round failed", self.name, exc_info=True)
                busy = False
            if not busy:
                self._stop.wait(self.idle_seconds)
