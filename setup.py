"""Builds the Cython kernels; all metadata lives in pyproject.toml.

Environment switches:
  DL_BOUNDSCHECK=1   compile the kernels with bounds and wraparound checks on
                     (the test suite runs once on such a build in CI).
  DL_NO_OPENMP=1     build without OpenMP even where the compiler has it.
  DL_NO_MVEC=1       do not vectorize exp/log/tanh/erf through glibc's libmvec.
  DL_KERNELS=a,b     (development) build only these kernel modules, e.g.
                     DL_KERNELS=ctc python setup.py build_ext --inplace
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
if os.environ.get("DL_KERNELS"):
    _only = set(os.environ["DL_KERNELS"].split(","))
    KERNELS = [pyx for pyx in KERNELS if pyx.stem in _only]
# The build switches the current .c/.so files were built with: changing one
# must regenerate and recompile them, which timestamps alone would not trigger.
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


_MVEC_CHECK = """
#include <emmintrin.h>
__m128 _ZGVbN4v_expf(__m128); __m128 _ZGVbN4v_expm1f(__m128); __m128 _ZGVbN4v_logf(__m128);
__m128 _ZGVbN4v_log1pf(__m128); __m128 _ZGVbN4v_tanhf(__m128); __m128 _ZGVbN4v_erff(__m128);
__m128d _ZGVbN2v_exp(__m128d); __m128d _ZGVbN2v_expm1(__m128d); __m128d _ZGVbN2v_log(__m128d);
__m128d _ZGVbN2v_log1p(__m128d); __m128d _ZGVbN2v_tanh(__m128d); __m128d _ZGVbN2v_erf(__m128d);
int main(void) {
    volatile float f = 0.5f; volatile double d = 0.5;
    __m128 a = _mm_set1_ps(f); __m128d b = _mm_set1_pd(d);
    a = _ZGVbN4v_erff(_ZGVbN4v_tanhf(_ZGVbN4v_log1pf(_ZGVbN4v_logf(_ZGVbN4v_expm1f(_ZGVbN4v_expf(a))))));
    b = _ZGVbN2v_erf(_ZGVbN2v_tanh(_ZGVbN2v_log1p(_ZGVbN2v_log(_ZGVbN2v_expm1(_ZGVbN2v_exp(b))))));
    return _mm_cvtss_f32(a) + _mm_cvtsd_f64(b) > 0.0 ? 0 : 1;
}
"""


def _compiler_has_mvec(compiler) -> bool:
    """Whether glibc's libmvec (x86-64, glibc >= 2.35) has the SSE vector
    variants of every libm function the kernels call in loops."""
    if os.environ.get("DL_NO_MVEC") == "1" or not sys.platform.startswith("linux"):
        return False
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mvec_check.c"
        path.write_text(_MVEC_CHECK)
        try:
            objects = compiler.compile([str(path)], output_dir=tmp)
            compiler.link_executable(objects, str(Path(tmp) / "mvec_check"), libraries=["mvec", "m"])
        except Exception:  # not x86-64, old glibc, other compiler: scalar libm
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
        mvec = _compiler_has_mvec(self.compiler)
        for ext in self.extensions:
            if openmp:
                ext.extra_compile_args.append("-fopenmp")
                ext.extra_link_args.append("-fopenmp")
            if mvec:
                ext.define_macros.append(("DL_USE_MVEC", "1"))
                ext.libraries.extend(["mvec", "m"])
        print(f"dl kernels: OpenMP {'on' if openmp else 'off'}, libmvec {'on' if mvec else 'off'}, "
              f"bounds checking {'on' if _boundscheck() else 'off'}")
        super().build_extensions()


def _boundscheck() -> bool:
    return os.environ.get("DL_BOUNDSCHECK") == "1"


def _flavour() -> str:
    switches = ("DL_BOUNDSCHECK", "DL_NO_OPENMP", "DL_NO_MVEC")
    return "".join(f"{name}={os.environ.get(name, '')}\n" for name in switches)


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
            # errno-free libm calls and no FP-exception semantics let GCC
            # vectorize loops that call exp & co. or select on a comparison.
            extra_compile_args=["-O3", "-fno-math-errno", "-fno-trapping-math"],
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
    package_data={"corelib.kernels": ["*.pyx", "*.pxd", "*.pxi", "*.pyi"]},
    ext_modules=_extensions(),
    cmdclass={"build_ext": BuildKernels},
)
