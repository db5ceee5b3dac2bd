"""Improvers: the seed improver I_0 and the paper-compatible helpers generated code imports."""

from selftaught.improver._seed import meta_utility_description, seed_improver
from selftaught.sandbox._guest.helpers import code_blocks, extract_code

__all__ = ["code_blocks", "extract_code", "meta_utility_description", "seed_improver"]
