"""What the command shows on stderr while a job runs and its images download.

On a terminal: one line redrawn in place (a spinner with the job's status and elapsed time,
then a bar per download). Otherwise (a pipe, a CI log): a plain line whenever something changes.
"""

from __future__ import annotations

import threading
import time
from typing import IO, Any

SPINNER = "|/-\\"
BAR_WIDTH = 24
REDRAW_SECONDS = 0.1


class Progress:
    def __init__(self, stream: IO[str], *, live: bool | None = None) -> None:
        self.stream = stream
        self.live = stream.isatty() if live is None else live
        self._line = ""
        self._status: tuple[str, str] | None = None
        self._reconnecting = False
        self._label = ""
        self._started = time.monotonic()
        self._ticker: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()

    # --- the request and the job -------------------------------------------------------------

    def request(self, task: str) -> None:
        """A task's request is under way (a sync answer can take a while): the spinner turns."""
        if self.live:
            self._label = f"{task}: waiting for the API"
            self._start_ticker(0.0)

    def answered(self) -> None:
        """The request was answered: the spinner's line goes."""
        if self.live and self._ticker is not None:
            self._stop_ticker()
            self._draw("")
            with self._lock:
                self.stream.write("\r")
                self._line = ""

    def status(self, job: dict[str, Any], elapsed: float) -> None:
        """Called after each poll of the job."""
        current = (job.get("id", "?"), job.get("status", "?"))
        self._label = f"job {current[0]}: {current[1]}"
        self._reconnecting = False
        if not self.live:
            if current != self._status:
                self._print(f"{self._label} ({elapsed:.0f} s)")
        elif current[1] == "RUNNING":
            # Between polls the spinner and the clock keep moving.
            self._start_ticker(elapsed)
        self._status = current
        if self.live and current[1] != "RUNNING":
            self._stop_ticker()
            self._draw(f"{self._label} after {elapsed:.1f} s")
            self.end_line()

    def _start_ticker(self, elapsed: float) -> None:
        if self._ticker is None:
            self._started = time.monotonic() - elapsed
            self._stop.clear()
            self._ticker = threading.Thread(target=self._tick, daemon=True)
            self._ticker.start()

    def _tick(self) -> None:
        frame = 0
        while not self._stop.wait(REDRAW_SECONDS):
            elapsed = time.monotonic() - self._started
            self._draw(f"{SPINNER[frame % len(SPINNER)]} {self._label} {elapsed:5.1f} s")
            frame += 1

    def _stop_ticker(self) -> None:
        if self._ticker is not None:
            self._stop.set()
            self._ticker.join()
            self._ticker = None

    def reconnecting(self, error: Exception, seconds_left: float) -> None:
        """A poll got no answer and is tried again: said once per outage, not at every try."""
        if not self._reconnecting:
            self._reconnecting = True
            self._print(f"no answer from the API ({error}); trying again for up to {seconds_left:.0f} s")

    # --- the downloads ---------------------------------------------------------------------

    def download(self, index: int, count: int, done: int, total: int | None) -> None:
        finished = total is not None and done >= total
        if self.live:
            share = done / total if total else 0
            filled = int(share * BAR_WIDTH)
            bar = "#" * filled + "-" * (BAR_WIDTH - filled)
            self._draw(f"downloading {index + 1}/{count} [{bar}] {_size(done)}")
            if finished:
                self.end_line()
        elif finished:
            self._print(f"downloaded {index + 1}/{count} ({_size(done)})")

    def uploaded(self, path: str, uri: str) -> None:
        self._print(f"uploaded {path} as {uri}")

    # --- output ------------------------------------------------------------------------------

    def close(self) -> None:
        self._stop_ticker()
        self.end_line()

    def end_line(self) -> None:
        with self._lock:
            if self._line:
                self.stream.write("\n")
                self.stream.flush()
                self._line = ""

    def _draw(self, text: str) -> None:
        with self._lock:
            padding = " " * max(len(self._line) - len(text), 0)
            self.stream.write(f"\r{text}{padding}")
            self.stream.flush()
            self._line = text

    def _print(self, text: str) -> None:
        self.end_line()
        with self._lock:
            self.stream.write(text + "\n")
            self.stream.flush()


def _size(count: int) -> str:
    return f"{count / 1e6:.1f} MB" if count >= 1e6 else f"{count / 1e3:.0f} kB"
