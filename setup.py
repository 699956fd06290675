"""Build the C extension rope._core; everything else is in pyproject.toml.

Flags are portable: no -march=native and no -ffast-math. The kernels are compiled for several
x86 SIMD levels from one source (target pragmas in src/rope_kernels.c) and the module picks one
at import. ROPE_WERROR=1 (set by CI) turns every warning into an error.
"""
import os
import sys
from glob import glob

import numpy as np
from setuptools import Extension, setup

compile_args = []
if sys.platform != "win32":
    compile_args = [
        "-std=gnu11",
        "-O3",
        "-fopenmp-simd",        # honours `#pragma omp simd`; no OpenMP runtime is linked
        "-ffp-contract=off",    # fused multiply-adds only where the kernels write them
        # Results are unchanged (this is not -ffast-math): it only lets gcc evaluate both arms
        # of a floating-point select, which the exact cos/sin builder needs to vectorize
        # (7x faster tables with AVX2). NumPy reports overflow/invalid flags, never inexact,
        # and no speculated operation here can raise those.
        "-fno-trapping-math",
        "-fvisibility=hidden",  # only PyInit__core is exported
        "-Wall",
        "-Wextra",
        "-Wshadow",
    ]
    if os.environ.get("ROPE_WERROR"):
        compile_args.append("-Werror")
    # Extra flags for instrumented builds (sanitizers), e.g. ROPE_CFLAGS="-fsanitize=address".
    compile_args += os.environ.get("ROPE_CFLAGS", "").split()

setup(
    ext_modules=[
        Extension(
            "rope._core",
            sources=sorted(glob("src/*.c")),
            depends=sorted(glob("src/*.h")),
            include_dirs=[np.get_include(), "src"],
            extra_compile_args=compile_args,
            extra_link_args=os.environ.get("ROPE_LDFLAGS", "").split(),
        )
    ]
)
