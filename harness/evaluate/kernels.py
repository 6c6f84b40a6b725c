"""Score kernels and the exact score: fast products that state how wrong they can be, and the
float64 product that defines a rank.

The exact score of two float32 embeddings x and y (d coordinates) is

    exact(x, y) = tree-sum of the d products float64(x_i) * float64(y_i)

Each product is exact in float64 (24 + 24 significant bits fit in 53). The tree sum adds the
second half of the (zero-padded, power-of-two long) vector to the first, elementwise, until one
number is left: a fixed order of correctly rounded IEEE additions, so the score is bit-identical
on every machine, CPU or GPU, whatever BLAS, instruction set or thread count, and identical
vectors tie exactly. Its own error is at most gamma_{log2 d} in float64 (about 1e-15 for unit
vectors): far below float32 spacing.

A fast kernel (a float32 GEMM on MKL, oneDNN or a GPU, a TF32 or bfloat16 GEMM) computes the
same scores in reduced precision and any order. For each kernel, `Kernel.relative_bound(d)` is a
rigorous bound on |fast - real| / (||x|| ||y||), from the classic analysis of a dot product
(Higham, Accuracy and Stability of Numerical Algorithms, 3.1): inputs rounded to the kernel's
input precision (relative u_in each), products accumulated in any order with unit roundoff u
(gamma_d = d u / (1 - d u) of the sum of |x_i y_i|, which Cauchy-Schwarz bounds by ||x|| ||y||),
the result rounded to the output precision (u_out). `certified_bound` adds the exact score's own
error and an absolute term for products flushed to zero. harness.evaluate.retrieval uses it to
decide which fast scores can be trusted and which pairs it must score exactly.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, cast

import numpy as np
import torch

from harness.errors import ConfigError

KernelName = Literal["float32", "tf32", "bfloat16"]
FLOAT32_UNIT = 2.0**-24
FLOAT64_UNIT = 2.0**-53
TF32_UNIT = 2.0**-11  # TF32 keeps 10 explicit mantissa bits
BFLOAT16_UNIT = 2.0**-8  # bfloat16 keeps 7
FLOAT32_TINY = 2.0**-126  # smallest normal float32: products below it may be flushed to zero (FTZ/DAZ)
EXACT_ROWS = 512  # pairs scored exactly per batch: their float64 products (2 MiB at d = 512) stay in cache


def gamma(n: int, unit: float) -> float:
    """gamma_n = n u / (1 - n u): the relative error bound of n roundings in a row."""
    nu = n * unit
    if nu >= 1:
        raise ConfigError(f"no error bound: {n} roundings at unit roundoff {unit:g}; use a wider kernel")
    return nu / (1 - nu)


@dataclass(frozen=True)
class Kernel:
    """A fast product of query rows and gallery columns, and its precision."""

    name: KernelName
    input_unit: float  # inputs are rounded to this relative precision (0: read as float32)
    accumulate_unit: float  # unit roundoff of the products' accumulation
    output_unit: float  # the result is rounded to this relative precision (0: stored as float32)
    note: str

    def relative_bound(self, dim: int) -> float:
        """Largest |fast - real| / (||x|| ||y||) over any summation order of `dim` products."""
        inputs = (1 + self.input_unit) ** 2
        return inputs * (1 + gamma(dim, self.accumulate_unit)) * (1 + self.output_unit) - 1

    def scores(self, rows: torch.Tensor, cols_t: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """rows (m x d) times cols_t (d x n) into the float32 `out` (m x n), in this kernel's precision."""
        if self.name == "float32":
            with _cuda_matmul_flags(tf32=False):
                return torch.mm(rows, cols_t, out=out)
        if self.name == "tf32":
            with _cuda_matmul_flags(tf32=True):
                return torch.mm(rows, cols_t, out=out)
        # bfloat16 inputs, float32 accumulation (CPU: oneDNN; CUDA: no reduced-precision split-K)
        with _cuda_matmul_flags(tf32=False):
            out.copy_(torch.mm(rows.to(torch.bfloat16), cols_t.to(torch.bfloat16)))
        return out


KERNELS: dict[KernelName, Kernel] = {
    k.name: k
    for k in (
        Kernel("float32", 0.0, FLOAT32_UNIT, 0.0, "float32 GEMM (MKL, oneDNN, cuBLAS without TF32)"),
        Kernel("tf32", TF32_UNIT, FLOAT32_UNIT, 0.0, "TF32 tensor cores: inputs rounded to 10 bits, float32 sums"),
        Kernel("bfloat16", BFLOAT16_UNIT, FLOAT32_UNIT, BFLOAT16_UNIT, "bfloat16 inputs and result, float32 sums"),
    )
}
DEFAULT_KERNEL: KernelName = "float32"


def get_kernel(name: str, where: str = "kernel") -> Kernel:
    """The kernel of this name, or a one-line ConfigError listing them."""
    if name not in KERNELS:
        raise ConfigError(f"{where}: unknown score kernel {name!r}; use one of {', '.join(KERNELS)}")
    return KERNELS[cast("KernelName", name)]  # a key of KERNELS, checked above


def certified_bound(kernel: Kernel, dim: int) -> tuple[float, float]:
    """(relative, absolute): |fast - exact| <= relative * ||x|| ||y|| + absolute for any pair. Adds the exact
    score's own error (gamma_{log2 d} in float64) and, for products flushed to zero, d times the
    smallest normal float32."""
    levels = max(1, int(dim - 1).bit_length())
    relative = kernel.relative_bound(dim) + gamma(levels, FLOAT64_UNIT)
    return relative * (1 + 1e-12), dim * FLOAT32_TINY  # 1e-12: the float64 arithmetic of the bound itself


def exact_scores(rows: torch.Tensor, cols: torch.Tensor, row_index: np.ndarray, col_index: np.ndarray) -> np.ndarray:
    """exact(rows[i], cols[j]) for each pair (i, j) of the two index arrays (the module's definition): by
    compiled loops on CPU (harness.evaluate.tile_kernels), by torch on a GPU; the two agree bit for bit."""
    if rows.device.type == "cpu" and cols.device.type == "cpu":
        from harness.evaluate.tile_kernels import exact_pairs  # compiled on first use: imported when needed

        padded = 1 << max(0, int(rows.shape[1] - 1).bit_length())
        ri, ci = np.asarray(row_index, dtype=np.int64), np.asarray(col_index, dtype=np.int64)
        return exact_pairs(rows.numpy(), cols.numpy(), ri, ci, padded)
    return torch_exact_scores(rows, cols, row_index, col_index)


def torch_exact_scores(
    rows: torch.Tensor, cols: torch.Tensor, row_index: np.ndarray, col_index: np.ndarray
) -> np.ndarray:
    """exact_scores by torch operations on the tensors' device."""
    out = np.empty(len(row_index), dtype=np.float64)
    if not len(out):
        return out
    dim = rows.shape[1]
    padded = 1 << max(0, int(dim - 1).bit_length())
    ri = torch.as_tensor(np.asarray(row_index, dtype=np.int64), device=rows.device)
    ci = torch.as_tensor(np.asarray(col_index, dtype=np.int64), device=cols.device)
    for p0 in range(0, len(out), EXACT_ROWS):
        a = rows.index_select(0, ri[p0 : p0 + EXACT_ROWS]).to(torch.float64)
        b = cols.index_select(0, ci[p0 : p0 + EXACT_ROWS]).to(torch.float64)
        if padded == dim:
            sums = a.mul_(b)
        else:
            sums = torch.zeros((a.shape[0], padded), dtype=torch.float64, device=a.device)
            torch.mul(a, b, out=sums[:, :dim])
        width = padded
        while width > 1:  # elementwise halving: the same additions in the same order everywhere
            width //= 2
            sums[:, :width] += sums[:, width : 2 * width]
        out[p0 : p0 + len(a)] = sums[:, 0].cpu().numpy()
    return out


def round_down(x: np.ndarray) -> np.ndarray:
    """The largest float32 <= each float64 in x."""
    f = x.astype(np.float32)
    up = f.astype(np.float64) > x
    f[up] = np.nextafter(f[up], np.float32(-np.inf))
    return f


def round_up(x: np.ndarray) -> np.ndarray:
    """The smallest float32 >= each float64 in x."""
    f = x.astype(np.float32)
    down = f.astype(np.float64) < x
    f[down] = np.nextafter(f[down], np.float32(np.inf))
    return f


@contextlib.contextmanager
def _cuda_matmul_flags(*, tf32: bool) -> Iterator[None]:
    """CUDA matmul precision flags for one product (they are process-wide); CPU products ignore them."""
    matmul = torch.backends.cuda.matmul
    saved = (matmul.allow_tf32, matmul.allow_bf16_reduced_precision_reduction)
    matmul.allow_tf32, matmul.allow_bf16_reduced_precision_reduction = tf32, False
    try:
        yield
    finally:
        matmul.allow_tf32, matmul.allow_bf16_reduced_precision_reduction = saved
