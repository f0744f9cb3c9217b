from typing import Optional

import numpy as np
import numpy.typing as npt

_F = npt.NDArray[np.floating]

class _Engine:
    def __init__(self, cell: str, input_size: int, units: int) -> None: ...
    @property
    def input_size(self) -> int: ...
    @property
    def units(self) -> int: ...
    def forward(
        self,
        x: _F,
        kernel: _F,
        recurrent_kernel: _F,
        bias: _F,
        h0: Optional[_F],
        c0: Optional[_F],
        lengths: Optional[npt.NDArray[np.int64]],
        time_major: bool,
        go_backwards: bool,
        return_sequences: bool,
        training: bool,
    ) -> tuple[Optional[_F], _F, Optional[_F]]: ...
    def backward(
        self,
        kernel: _F,
        recurrent_kernel: _F,
        bias: _F,
        dy: Optional[_F],
        dh: Optional[_F],
        dc: Optional[_F],
        want_dx: bool,
    ) -> tuple[Optional[_F], _F, Optional[_F], _F, _F, _F]: ...

class Engine32(_Engine): ...
class Engine64(_Engine): ...

def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...
def gemm_backend() -> str: ...

instruction_set: str  # "native", or in a portable build "baseline", "x86-64-v3", "x86-64-v4"
