"""Build of the optional compiled kernels (metadata lives in pyproject.toml).

The extension is ``optional``: where no C compiler is found the install still succeeds and
the numpy paths are used (see ``sci_evidence.meta._kernels``).
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
        )
    ]
)
