"""The one place that sets numba's JIT options for every kernel (numba-stats' ``_jit`` idea).

``cache=True`` keeps compiled code across processes; ``error_model="numpy"`` lets a division by
zero give ``inf``/``nan`` instead of raising, so kernels handle empty accounts by masks.
"""

from __future__ import annotations

import functools

import numba

__all__ = ["kernel"]

kernel = functools.partial(numba.njit, cache=True, error_model="numpy", nogil=True)
