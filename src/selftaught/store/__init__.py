"""The run store: where a run's manifest, programs, events, journals and summary live."""

from selftaught.store._run_store import (
    FORMAT_VERSION,
    RunStore,
    event_fingerprint,
    is_locked,
    program_hash,
    read_events,
)

__all__ = ["FORMAT_VERSION", "RunStore", "event_fingerprint", "is_locked", "program_hash", "read_events"]
