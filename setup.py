"""Builds the Cython kernels; all metadata lives in pyproject.toml.

Environment switches:
  DL_BOUNDSCHECK=1   compile the kernels with bounds and wraparound checks on
                     (the test suite runs once on such a build in CI).
  DL_NO_OPENMP=1     build without OpenMP even where the compiler has it.
"""
import os
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy
from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).parent
KERNELS = sorted((HERE / "corelib" / "kernels").glob("*.pyx"))
# Which flavour (bounds checks on/off) the current .c/.so files were built as:
# switching flavours must regenerate and recompile them, which timestamps
# alone would not trigger.
FLAVOUR_FILE = HERE / "build" / "dl-kernels-flavour"


def _compiler_has_openmp(compiler) -> bool:
    """Try to compile and link a tiny OpenMP program with this compiler."""
    if os.environ.get("DL_NO_OPENMP") == "1" or sys.platform == "darwin":
        return False
    source = textwrap.dedent(
        """
        #include <omp.h>
        int main(void) { return omp_get_max_threads() > 0 ? 0 : 1; }
        """
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "omp_check.c"
        path.write_text(source)
        try:
            objects = compiler.compile([str(path)], output_dir=tmp, extra_postargs=["-fopenmp"])
            compiler.link_executable(objects, str(Path(tmp) / "omp_check"), extra_postargs=["-fopenmp"])
        except Exception:  # any compile or link failure means: no OpenMP
            return False
    return True


class BuildKernels(build_ext):
    """build_ext that adds -fopenmp only where the compiler supports it and
    rebuilds everything when the bounds-checking flavour changed."""

    def run(self):
        if _flavour_changed():
            self.force = True
        super().run()
        FLAVOUR_FILE.parent.mkdir(parents=True, exist_ok=True)
        FLAVOUR_FILE.write_text(_flavour())

    def build_extensions(self):
        openmp = _compiler_has_openmp(self.compiler)
        for ext in self.extensions:
            if openmp:
                ext.extra_compile_args.append("-fopenmp")
                ext.extra_link_args.append("-fopenmp")
        print(f"dl kernels: OpenMP {'on' if openmp else 'off'}, "
              f"bounds checking {'on' if _boundscheck() else 'off'}")
        super().build_extensions()


def _boundscheck() -> bool:
    return os.environ.get("DL_BOUNDSCHECK") == "1"


def _flavour() -> str:
    return f"boundscheck={int(_boundscheck())}\n"


def _flavour_changed() -> bool:
    try:
        return FLAVOUR_FILE.read_text() != _flavour()
    except OSError:
        return True


def _extensions():
    from Cython.Build import cythonize

    checks = _boundscheck()
    extensions = [
        Extension(
            f"corelib.kernels.{pyx.stem}",
            [str(pyx.relative_to(HERE))],
            include_dirs=[numpy.get_include()],
            define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
            extra_compile_args=["-O3"],
        )
        for pyx in KERNELS
    ]
    return cythonize(
        extensions,
        force=_flavour_changed(),
        language_level=3,
        compiler_directives={
            "boundscheck": checks,
            "wraparound": checks,
            "initializedcheck": checks,
            "cdivision": True,
            "nonecheck": False,
        },
    )


packages = find_packages(include=["corelib", "corelib.*"]) + ["dl_cli"]
setup(
    packages=packages,
    package_dir={"dl_cli": "cli"},
    package_data={"corelib.kernels": ["*.pyx", "*.pxd", "*.pxi"]},
    ext_modules=_extensions(),
    cmdclass={"build_ext": BuildKernels},
)
