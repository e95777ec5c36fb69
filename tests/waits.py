"""Bounded, condition-driven waits for tests that run or kill other processes and threads.

A test waits for the event it needs (a file, a line of output, a counter) with a deadline, and fails with a message
that says what never happened (and what the child printed) instead of spinning forever or sleeping a fixed time
and hoping the other side got there.
"""
from __future__ import annotations

import subprocess
import threading
import time
from typing import Any, Callable, Optional


def wait_until(cond: Callable[[], Any], timeout: float, what: str, proc: Any = None, interval: float = 0.005) -> Any:
    """Polls ``cond()`` until it is truthy and returns its value; fails after ``timeout`` seconds, or as soon as
    ``proc`` (a ``subprocess.Popen`` or ``multiprocessing.Process``) has exited, naming ``what`` was awaited."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if proc is not None and not _alive(proc):
            raise AssertionError(f"the child exited ({_exitcode(proc)}) before {what}{_output(proc)}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}{_output(proc)}")
        time.sleep(interval)


def _alive(proc: Any) -> bool:
    return proc.poll() is None if isinstance(proc, subprocess.Popen) else proc.is_alive()


def _exitcode(proc: Any) -> Optional[int]:
    return proc.returncode if isinstance(proc, subprocess.Popen) else proc.exitcode


def _output(proc: Any) -> str:
    readers = [r for r in (getattr(proc, "stdout_lines", None), getattr(proc, "stderr_lines", None)) if r]
    text = "".join(r.text() for r in readers)
    return f"; its output so far:\n{text[-4000:]}" if text else ""


class LineReader:
    """Reads a text stream (a child's stdout/stderr pipe) line by line on a daemon thread, so the test can wait
    for a given line while the child runs, without blocking on a pipe read that may never return."""

    def __init__(self, stream: Any) -> None:
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._eof = False
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream: Any) -> None:
        for line in iter(stream.readline, ""):
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def wait_for(self, needle: str, timeout: float) -> str:
        """The first line containing ``needle``; fails after ``timeout`` s or at the end of the stream."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines:
                    if needle in line:
                        return line
                left = deadline - time.monotonic()
                if self._eof or left <= 0:
                    why = "the stream ended" if self._eof else f"timed out after {timeout:g} s"
                    raise AssertionError(f"{why} before a line with {needle!r}; got:\n{self.text()[-4000:]}")
                self._cond.wait(left)

    def text(self) -> str:
        return "".join(self.lines)

    def close(self, timeout: float = 30) -> str:
        """Waits (bounded) for the end of the stream and returns everything read."""
        self._thread.join(timeout)
        return self.text()


def popen_reading(cmd: list, **kw: Any) -> subprocess.Popen:
    """``subprocess.Popen`` with text stdout/stderr pipes each drained by a ``LineReader`` (``p.stdout_lines``,
    ``p.stderr_lines``): the child never blocks on a full pipe, and the test can wait for a line."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    p.stdout_lines, p.stderr_lines = LineReader(p.stdout), LineReader(p.stderr)
    return p


def finish(p: subprocess.Popen, timeout: float) -> tuple[str, str]:
    """Waits for a ``popen_reading`` child to exit (killing it after ``timeout`` s, then failing) and returns
    its whole (stdout, stderr)."""
    try:
        p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(30)
        raise AssertionError(f"the child did not exit within {timeout:g} s (killed){_output(p)}") from None
    return p.stdout_lines.close(), p.stderr_lines.close()
