"""Build the Cython hot path into controller.vision._framediff.

Flags stay portable to any x86-64 or aarch64 industrial PC: -O3 lets GCC
vectorise the branch-free row loops with the baseline instruction set; no
-march=native, so a wheel built here runs on the lane's PC.
"""

from __future__ import annotations

import sys

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

compile_args = [] if sys.platform == "win32" else ["-O3", "-fno-strict-aliasing"]

extensions = [
    Extension(
        "controller.vision._framediff",
        sources=["ext/framediff.pyx"],
        depends=["ext/framediff_simd.h"],
        include_dirs=[np.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=compile_args,
    ),
    Extension(
        "controller.vision._cells",
        sources=["ext/cells.pyx"],
        include_dirs=[np.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        # No fused multiply-add: the lattice's squares and sums round as numpy's do.
        extra_compile_args=[*compile_args, "-ffp-contract=off"] if compile_args else [],
    ),
    Extension(
        "controller.vision._light",
        sources=["ext/light.pyx"],
        include_dirs=[np.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=compile_args,
    ),
    Extension(
        "controller.vision._light_only",
        sources=["ext/light_only.pyx"],
        depends=[
            "ext/light_window.h",
            "ext/light_window_body.h",
            "ext/shadow_window.h",
            "ext/shadow_window.pxd",
            "ext/numpy_log.pxi",
        ],
        include_dirs=[np.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        # It runs the shadow test too (shadow_window.h): no fused multiply-add, as there.
        extra_compile_args=[*compile_args, "-ffp-contract=off"] if compile_args else [],
    ),
    Extension(
        "controller.vision._registration",
        sources=["ext/registration.pyx"],
        depends=["ext/lk_simd.h"],
        include_dirs=[np.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=compile_args,
    ),
    Extension(
        "controller.vision._warp",
        sources=["ext/warp.pyx"],
        depends=["ext/warp_simd.h"],
        include_dirs=[np.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=compile_args,
    ),
    Extension(
        "controller.vision._zone_edges",
        sources=["ext/zone_edges.pyx"],
        include_dirs=[np.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=compile_args,
    ),
    Extension(
        "controller.vision._shadow",
        sources=["ext/shadow.pyx"],
        depends=["ext/shadow_window.h", "ext/shadow_window.pxd", "ext/numpy_log.pxi"],
        include_dirs=[np.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        # No fused multiply-add (aarch64 GCC contracts by default): the pass must
        # round every float32 step as numpy does to give the reference's verdicts.
        extra_compile_args=[*compile_args, "-ffp-contract=off"] if compile_args else [],
    ),
    Extension(
        "controller.vision._refresh",
        sources=["ext/refresh.pyx"],
        depends=["ext/refresh_simd.h"],
        include_dirs=[np.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        # The clip's float compares may then become selects (the loops vectorise);
        # no result changes, only floating-point exception flags are not kept.
        extra_compile_args=[*compile_args, "-fno-trapping-math"] if compile_args else [],
    ),
]

setup(
    ext_modules=cythonize(
        extensions,
        language_level=3,
        compiler_directives={
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
    )
)
