"""Dynamic batching: concurrent requests to one served model version become one ORT call.

Each served version has one queue and one consumer task. The consumer takes the first queued
request, then every request already queued (up to `max_rows` rows in all, with the same trailing
shapes). While the batch holds fewer requests than the previous one did (so more are probably on
their way: the server is under concurrent load), it also waits for more, up to `max_delay_s` after
the first; a lone client (previous batch: one request) is never delayed. The batch runs in
the version's own worker thread, so the event loop keeps reading requests meanwhile, and each
request gets its own rows of every output back. Pure asyncio and numpy: `run` is any function of
{input name: array} -> {output name: array}.
"""
from __future__ import annotations

import asyncio
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

import numpy as np

Arrays = dict[str, np.ndarray]


@dataclass(eq=False)
class _Item:
    inputs: Arrays
    rows: int
    future: asyncio.Future
    key: tuple  # trailing shapes: requests are concatenated only when these agree


_STOP = _Item({}, 0, None, ())  # type: ignore[arg-type]


class BatcherClosed(RuntimeError):
    """A request reached a version that stopped serving (cannot happen through the app's holders)."""


class Batcher:
    """One queue of requests for one model version; see the module docstring."""

    def __init__(self, run: Callable[[Arrays], Arrays], max_rows: int, max_delay_s: float,
                 observe: Callable[[int, int], None] | None = None, name: str = "model"):
        self.run = run                  # blocking; called in the worker thread
        self.max_rows = max(1, max_rows)
        self.max_delay_s = max(0.0, max_delay_s)
        self.observe = observe          # called with (rows, requests) after every batch
        self._items: deque[_Item] = deque()
        self._arrived = asyncio.Event()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"ort-{name}")
        self._task: asyncio.Task | None = None
        self._carry: _Item | None = None
        self._expect = 1                # requests in the previous batch: how many to wait for
        self._closing = False

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._consume())

    async def submit(self, inputs: Arrays, rows: int) -> Arrays:
        """Queue one request (synchronously, before the first await) and wait for its outputs."""
        if self._closing:
            raise BatcherClosed("this model version is no longer served")
        future = asyncio.get_running_loop().create_future()
        self._push(_Item(inputs, rows, future, _key(inputs)))
        return await future

    async def close(self) -> None:
        """Answer everything queued so far, then stop the consumer and the worker thread."""
        if self._closing:
            return
        self._closing = True
        self._push(_STOP)
        if self._task is not None:
            await self._task
        self._executor.shutdown(wait=False)

    def _push(self, item: _Item) -> None:
        self._items.append(item)
        self._arrived.set()

    async def _consume(self) -> None:
        while (batch := await self._collect()) is not None:
            await self._run(batch)

    async def _collect(self) -> list[_Item] | None:
        """The next batch; None once the stop marker comes up."""
        first = self._carry or await self._pop(None)
        self._carry = None
        if first is _STOP:
            return None
        batch, rows = [first], first.rows
        now = asyncio.get_running_loop().time()
        while rows < self.max_rows:
            item = await self._pop(now + self.max_delay_s if len(batch) < self._expect else now)
            if item is None:
                break
            if item is _STOP or item.key != first.key or rows + item.rows > self.max_rows:
                self._carry = item
                break
            batch.append(item)
            rows += item.rows
        self._expect = len(batch)
        return batch

    async def _pop(self, deadline: float | None) -> _Item | None:
        """The next queued item, waiting until `deadline` (loop time; None: forever); None if none came."""
        loop = asyncio.get_running_loop()
        while not self._items:
            self._arrived.clear()
            timeout = None if deadline is None else deadline - loop.time()
            if timeout is not None and timeout <= 0:
                return None
            try:
                await asyncio.wait_for(self._arrived.wait(), timeout)
            except asyncio.TimeoutError:
                pass
        return self._items.popleft()

    async def _run(self, batch: list[_Item]) -> None:
        loop = asyncio.get_running_loop()
        try:
            feeds = batch[0].inputs if len(batch) == 1 else {
                name: np.concatenate([item.inputs[name] for item in batch]) for name in batch[0].inputs}
            outputs = await loop.run_in_executor(self._executor, self.run, feeds)
            if self.max_rows > 1:
                check_rows(outputs, sum(item.rows for item in batch))
        except Exception as e:  # noqa: BLE001 - every request of the batch gets the error
            for item in batch:
                _settle(item.future, exception=e)
            return
        if self.observe is not None:
            self.observe(sum(item.rows for item in batch), len(batch))
        for item, part in zip(batch, split(outputs, [item.rows for item in batch])):
            _settle(item.future, result=part)


class OutputRowsError(RuntimeError):
    """The model returned an output whose first dimension is not the batch's rows."""


def check_rows(outputs: Arrays, rows: int) -> None:
    """Every output must have one row per input row, or the batch cannot be split between requests."""
    wrong = [f"{name!r} has shape {list(np.shape(out))}" for name, out in outputs.items()
             if np.ndim(out) == 0 or np.shape(out)[0] != rows]
    if wrong:
        raise OutputRowsError(f"model outputs: expected {rows} row(s) each (the batch's first dimension), but "
                              + ", ".join(wrong))


def split(outputs: Arrays, rows: list[int]) -> list[Arrays]:
    """Each request's rows of every output (the whole outputs when the batch is one request)."""
    if len(rows) == 1:
        return [outputs]
    bounds = np.cumsum([0, *rows])
    return [{name: out[a:b] for name, out in outputs.items()} for a, b in zip(bounds[:-1], bounds[1:])]


def _key(inputs: Arrays) -> tuple:
    return tuple((name, a.dtype.str, a.shape[1:]) for name, a in sorted(inputs.items()))


def _settle(future: asyncio.Future, result=None, exception: BaseException | None = None) -> None:
    if future.done():  # the request was cancelled (its client went away)
        return
    if exception is not None:
        future.set_exception(exception)
    else:
        future.set_result(result)
