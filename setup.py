"""Build of the optional compiled kernels (metadata lives in pyproject.toml).

The extensions are ``optional``: where no C compiler is found the install still succeeds and
the numpy/Python paths are used (``_gosh_kernel``: see ``sci_evidence.meta._batch``;
``_fit_kernel``: see ``sci_evidence.meta._lean_fit`` and ``sci_evidence.meta.tau2``).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "sci_evidence.meta._gosh_kernel",
            ["src/sci_evidence/meta/_gosh_kernel.c"],
            # no FMA contraction: the kernel must round as the numpy path does
            extra_compile_args=["-O3", "-ffp-contract=off"],
            optional=True,
        ),
        Extension(
            "sci_evidence.meta._fit_kernel",
            ["src/sci_evidence/meta/_fit_kernel.c"],
            # no FMA contraction: the kernel must round as the Python reference does
            extra_compile_args=["-O3", "-ffp-contract=off"],
            optional=True,
        ),
    ]
)
