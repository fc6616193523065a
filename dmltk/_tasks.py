"""The functions that the distributed engine's tasks run on the workers.

Generic: they know neither the loss nor Dask (numpy and the standard library
only), so that a worker imports them cheaply. Every task returns a
:class:`Partial`, a pair ``(value, seconds)``: the value of a sum over
blocks, and the time spent in block functions along the slowest chain of
tasks that led to it (a task's own time plus the largest time it received),
so that the client learns how long the kernels took without asking the
workers.
"""

from __future__ import annotations

import time
from typing import NamedTuple


class Partial(NamedTuple):
    """What every engine task returns."""

    value: object
    seconds: float
    #: Whether a task ran away from the worker expected to hold its blocks
    #: (a worker died, or a block had no known home): the client then reads
    #: again where the blocks live.
    misplaced: bool = False


def _unwrap(argument, carried: float) -> tuple:
    """The value of a partial and the largest time carried so far."""
    if isinstance(argument, Partial):
        return argument.value, max(carried, argument.seconds)
    return argument, carried


def _runs_on(expected_worker: str | None) -> bool:
    if expected_worker is None:  # a local scheduler: no worker to be on
        return True
    # Only distributed workers name a worker; they have imported it already.
    from distributed import get_worker

    return get_worker().address == expected_worker


def _unwrap_group(n_per_block: int, n_common: int, arguments: tuple):
    """``(common, [block_arguments, ...], largest carried time)`` of a group
    task's arguments, partials unwrapped."""
    carried = 0.0
    values = []
    for argument in arguments:
        value, carried = _unwrap(argument, carried)
        values.append(value)
    blocks = [
        values[first : first + n_per_block]
        for first in range(n_common, len(values), n_per_block)
    ]
    return values[:n_common], blocks, carried


def group_sum(
    function, expected_worker: str | None, n_per_block: int, n_common: int, *arguments
) -> Partial:
    """``sum_b function(*block_arguments_b, *common, out=...)`` over the blocks
    of one worker, in the order given: one task for all of them.

    ``arguments`` holds the ``n_common`` common arguments, then
    ``n_per_block`` arguments per block (the blocks themselves and their
    companions, such as labels or a residual). ``function`` adds into
    ``out`` when it is given and returns it, so a single buffer accumulates
    over all the blocks. ``expected_worker`` is the address of the worker
    that held the blocks when the graph was made ("" for unknown, None under
    a local scheduler).
    """
    start = time.perf_counter()
    common, blocks, carried = _unwrap_group(n_per_block, n_common, arguments)
    total = None
    for block_arguments in blocks:
        total = function(*block_arguments, *common, out=total)
    elapsed = time.perf_counter() - start
    return Partial(total, carried + elapsed, not _runs_on(expected_worker))


def group_merge(
    block_function,
    merge_function,
    expected_worker: str | None,
    n_per_block: int,
    n_common: int,
    *arguments,
) -> Partial:
    """``merge_function`` of ``block_function(*block_arguments_b, *common)``
    over the blocks of one worker: :func:`group_sum` for statistics that are
    merged rather than added into a buffer (such as the tables of
    :mod:`dmltk._metric_blocks`)."""
    start = time.perf_counter()
    common, blocks, carried = _unwrap_group(n_per_block, n_common, arguments)
    parts = [block_function(*block_arguments, *common) for block_arguments in blocks]
    total = parts[0] if len(parts) == 1 else merge_function(*parts)
    elapsed = time.perf_counter() - start
    return Partial(total, carried + elapsed, not _runs_on(expected_worker))


def merge_with(merge_function, *partials: Partial) -> Partial:
    """:func:`merge` with ``merge_function`` folding the values."""
    start = time.perf_counter()
    total = merge_function(*(part.value for part in partials))
    seconds = max(part.seconds for part in partials) + time.perf_counter() - start
    return Partial(total, seconds, any(part.misplaced for part in partials))


def merge(*partials: Partial) -> Partial:
    """Element-wise sum of partial values in the order given (so results are
    bit-identical from one run to the next), and the largest time."""
    total = partials[0].value.copy()
    for part in partials[1:]:
        total += part.value
    seconds = max(part.seconds for part in partials)
    return Partial(total, seconds, any(part.misplaced for part in partials))


def shifted(function, values, shift, *arguments):
    """``function(values + shift, *arguments)``: a statistic of summed
    margins, once the intercept is added."""
    return function(values + shift, *arguments)


def timed(function, *arguments) -> Partial:
    """``function(*arguments)`` as a partial, partial arguments unwrapped."""
    start = time.perf_counter()
    carried = 0.0
    values = []
    for argument in arguments:
        value, carried = _unwrap(argument, carried)
        values.append(value)
    misplaced = any(isinstance(a, Partial) and a.misplaced for a in arguments)
    return Partial(function(*values), carried + time.perf_counter() - start, misplaced)
