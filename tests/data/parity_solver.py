import itertools

import numpy as np


def algorithm(train_samples, train_parity, test_samples):
    """Tries every secret subset and keeps the one that explains the most training labels."""
    n_bits = train_samples.shape[1]
    best, best_errors = None, None
    for bits in itertools.product([0, 1], repeat=n_bits):
        secret = np.array(bits)
        errors = int(np.sum((train_samples @ secret) % 2 != train_parity))
        if best_errors is None or errors < best_errors:
            best, best_errors = secret, errors
    return (test_samples @ best) % 2
