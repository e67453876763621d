"""sci-evidence: evidence synthesis of cell therapies in traumatic spinal cord injury."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sci-evidence")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
