"""A live progress line while a run goes on: rewritten in place on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from employes_sync.store.queue import Batch


class ProgressLine:
    def __init__(self, *, enabled: bool = True, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = self.stream.isatty()
        self.started = time.monotonic()
        self.listing = "listing employees"
        self.last = ""
        self.last_plain = 0.0

    def event(self, name: str, fields: dict[str, Any]) -> None:
        if name == "page":
            self.listing = f"listed {fields['employees']} employees (page {fields['page']}/{fields['pages']})"
        elif name == "inline":
            text = f"first {fields['processed']} employees done in {fields['seconds']:.2f} s"
            if fields.get("handed_over"):
                text += f" ({fields['handed_over']} handed to a batch after failing)"
            self._line(text, force=True)
            return
        elif name == "retry":
            self._line(f"waiting: {fields['notice']}", force=True)
            return
        elif name == "took_over":
            self._line(f"took over run {fields['run_id']}: {fields['reason']}", force=True)
            return
        elif name == "listed":
            self.listing = f"listed {fields['employees']} employees in {fields['batches']} batches"
        self._line(self.listing)

    def batches(self, batches: list[Batch]) -> None:
        counts: dict[str, int] = {}
        for batch in batches:
            counts[batch.status] = counts.get(batch.status, 0) + 1
        retrying = sum(1 for b in batches if b.status == "pending" and b.attempts > 0)
        text = (
            f"{self.listing} | batches: {counts.get('completed', 0)}/{len(batches)} done, "
            f"{counts.get('processing', 0)} running, {counts.get('pending', 0)} waiting"
            + (f" ({retrying} retrying)" if retrying else "")
            + (f", {counts['failed']} failed" if counts.get("failed") else "")
        )
        self._line(text)

    def _line(self, text: str, *, force: bool = False) -> None:
        if not self.enabled or text == self.last:
            return
        self.last = text
        elapsed = time.monotonic() - self.started
        line = f"[{elapsed:6.1f}s] {text}"
        if self.tty:
            self.stream.write("\r\033[K" + line)
        else:
            now = time.monotonic()
            if not force and now - self.last_plain < 2.0:
                return
            self.last_plain = now
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.tty and self.last:
            self.stream.write("\n")
            self.stream.flush()
