"""Builds every ``native/*.pyx`` into ``bybitfast._<name>``.

No OpenSSL headers are needed: the signer ships its own SHA-256 (with a run-time
dispatch to the CPU's SHA extensions). ``BYBITFAST_NATIVE=sign,book`` limits the
build to some modules (a development convenience only).
"""

import os
from pathlib import Path

from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = Path(__file__).parent
NATIVE = HERE / "native"

# Extra C sources compiled into a given module (per-CPU fast paths).
EXTRA_SOURCES = {
    "sign": ["native/sha256_portable.c", "native/sha256_shani.c", "native/sha256_dispatch.c"],
}
# Per-file flags: the SHA-NI kernel is compiled with its ISA enabled, selected at run time.
CFLAGS = ["-O3", "-fno-strict-aliasing"]


def extensions() -> list[Extension]:
    only = {m for m in os.environ.get("BYBITFAST_NATIVE", "").split(",") if m}
    exts = []
    for pyx in sorted(NATIVE.glob("*.pyx")):
        name = pyx.stem
        if only and name not in only:
            continue
        sources = [f"native/{pyx.name}"] + [s for s in EXTRA_SOURCES.get(name, []) if (HERE / s).exists()]
        exts.append(
            Extension(
                f"bybitfast._{name}",
                sources,
                include_dirs=["native"],
                extra_compile_args=CFLAGS,
            )
        )
    return exts


setup(
    ext_modules=cythonize(
        extensions(),
        compiler_directives={
            "language_level": 3,
            "embedsignature": True,
            "binding": False,
        },
        include_path=["native"],
    ),
)
