"""Improvers: the seed improver I_0, the library of strategies, and the paper-compatible helpers generated code
imports."""

from selftaught.improver._library import LIBRARY, LibraryImprover, improver_names, improver_program, library_improver
from selftaught.improver._seed import meta_utility_description, seed_improver
from selftaught.sandbox._guest.helpers import code_blocks, extract_code

__all__ = [
    "LIBRARY",
    "LibraryImprover",
    "code_blocks",
    "extract_code",
    "improver_names",
    "improver_program",
    "library_improver",
    "meta_utility_description",
    "seed_improver",
]
