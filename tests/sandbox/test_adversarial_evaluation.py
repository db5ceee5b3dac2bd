"""Hostile candidates against the evaluation itself: answers re-created from public seeds or read through
the package earn nothing; each attack is shown working where the hole is open (the positive control)."""

from __future__ import annotations

import numpy as np
import pytest

from selftaught.evaluate import evaluate
from selftaught.sandbox import SandboxChoice, select_sandbox
from selftaught.tasks import Instance, SplitSecret, get_task
from selftaught.tasks.parity import ParityNoiseTask
from support import TEST_SECRET

# A candidate that knows the generator (it is in the source) and the public split seed (it was in the docs):
# it re-creates the split, finds the instance it was given and returns that instance's hidden labels.
REBUILD = '''
import numpy as np

def _instances(seed, count):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        secret = (rng.random(10) < 0.3).astype(np.int64)
        samples = rng.integers(0, 2, size=(120, 10), dtype=np.int64)
        labels = (samples @ secret) % 2
        rng.random(100)  # the label noise draws
        out.append((samples[100:], labels[100:]))
    return out

_KNOWN = _instances(5678, 50)

def algorithm(train_samples, train_parity, test_samples):
    for samples, labels in _KNOWN:
        if np.array_equal(samples, test_samples):
            return labels.tolist()
    return [0] * len(test_samples)
'''


class PublicSeedLPN(ParityNoiseTask):
    """LPN as it was: one generator per split, seeded with the public split seed (the hole, reopened)."""

    def instances(self, split: str, secret: SplitSecret) -> list[Instance]:
        rng = np.random.default_rng(self.split_seeds[split])
        return [self.make_instance(rng, i) for i in range(self.split_sizes[split])]


@pytest.fixture(scope="module")
def strict() -> SandboxChoice:
    return select_sandbox("strict")


def test_answers_rebuilt_from_the_public_seed_earn_nothing(strict: SandboxChoice) -> None:
    opened = evaluate(PublicSeedLPN(), REBUILD, "test", sandbox=strict.sandbox, secret=TEST_SECRET)
    assert opened.score == 1.0, opened  # the attack works where instances come from the public seed
    closed = evaluate(get_task("lpn"), REBUILD, "test", sandbox=strict.sandbox, secret=TEST_SECRET)
    assert closed.failures == {} and closed.score < 0.7, closed  # all-zero guesses: about half right


def test_the_selftaught_package_cannot_be_imported_by_a_candidate(strict: SandboxChoice) -> None:
    reader = (
        "from selftaught.tasks import get_task, load_split_secret\n"
        "def algorithm(train_samples, train_parity, test_samples):\n"
        "    return [0] * 20\n"
    )
    result = evaluate(get_task("lpn"), reader, "test", sandbox=strict.sandbox, secret=TEST_SECRET)
    assert result.failure == "exception" and "No module named 'selftaught'" in result.detail, result
    control = evaluate(get_task("lpn"), "import numpy\n" + reader.split("\n", 1)[1], "test",
                       sandbox=strict.sandbox, secret=TEST_SECRET)
    assert control.failure is None and control.n_instances == 50
