"""Build the C extension rope._core; everything else is in pyproject.toml.

Flags are portable: no -march=native and no -ffast-math. The kernels are written once and
compiled once per SIMD level, each level in its own file (src/rope_level_*.c) with that level's
instruction-set flags; the module picks the best level the CPU runs at import. gcc and clang
take the same flags; MSVC takes its own. ROPE_WERROR=1 (set by CI) turns every warning into
an error.
"""
import os
import sysconfig
from glob import glob

import numpy as np
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# Flags for gcc and clang. Results are unchanged by any of them (this is not -ffast-math).
UNIX_FLAGS = [
    "-std=gnu11",
    "-O3",
    "-fopenmp-simd",        # honours `#pragma omp simd`; no OpenMP runtime is linked
    "-ffp-contract=off",    # fused multiply-adds only where the kernels write them
    # Lets the compiler evaluate both arms of a floating-point select, which the exact cos/sin
    # builder needs to vectorize. NumPy reports overflow/invalid flags, never inexact, and no
    # speculated operation here can raise those.
    "-fno-trapping-math",
    "-fvisibility=hidden",  # only PyInit__core is exported
    "-Wall",
    "-Wextra",
    "-Wshadow",
]

# The instruction sets of each level file, by target architecture: (gcc/clang, MSVC). Files
# not named here take the architecture's baseline; each file compiles to nothing on the
# architectures it is not for.
LEVEL_FLAGS = {
    "x86_64": {
        "src/rope_level_avx2.c": (["-mavx2", "-mfma", "-mf16c"], ["/arch:AVX2"]),
        "src/rope_level_avx512.c": (
            ["-mavx512f", "-mavx512bw", "-mavx512dq", "-mavx512vl", "-mavx2", "-mfma", "-mf16c",
             "-mprefer-vector-width=512"],
            ["/arch:AVX512"],
        ),
    },
}


def target_architecture() -> str:
    """x86_64, aarch64, ... for the platform the extension is built for."""
    platform = sysconfig.get_platform()  # linux-x86_64, win-amd64, macosx-11.0-arm64, ...
    machine = platform.rsplit("-", 1)[-1].lower()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)


class BuildWithLevels(build_ext):
    """build_ext that compiles each SIMD level's file with that level's flags."""

    def build_extension(self, ext):
        msvc = self.compiler.compiler_type == "msvc"
        levels = LEVEL_FLAGS.get(target_architecture(), {})
        common = [] if msvc else UNIX_FLAGS + os.environ.get("ROPE_CFLAGS", "").split()
        if os.environ.get("ROPE_WERROR"):
            common.append("/WX" if msvc else "-Werror")
        objects = []
        for source, (unix, windows) in levels.items():
            objects += self.compiler.compile(
                [source], output_dir=self.build_temp, include_dirs=ext.include_dirs,
                extra_postargs=common + (windows if msvc else unix), depends=ext.depends,
                debug=self.debug)
        ext.sources = [s for s in ext.sources if s not in levels]
        ext.extra_objects = objects
        ext.extra_compile_args = common
        super().build_extension(ext)


if __name__ == "__main__":  # also how setuptools runs this file; .ci/aarch64 imports the flags
    setup(
        ext_modules=[
            Extension(
                "rope._core",
                sources=sorted(set(glob("src/*.c")) - set(glob("src/*.inc.c"))),
                depends=sorted(glob("src/*.h") + glob("src/*.inc.c")),
                include_dirs=[np.get_include(), "src"],
                # Extra flags for instrumented builds (sanitizers), e.g. ROPE_LDFLAGS="-fsanitize=address".
                extra_link_args=os.environ.get("ROPE_LDFLAGS", "").split(),
            )
        ],
        cmdclass={"build_ext": BuildWithLevels},
    )
