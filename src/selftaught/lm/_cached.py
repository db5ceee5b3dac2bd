"""Record/replay around a real provider: every sample stored under its canonical request and sample index."""

from __future__ import annotations

import dataclasses
from typing import Any

from selftaught.errors import LMRefused
from selftaught.lm._base import Backend, CompletionRequest, Generation
from selftaught.lm.cache import CachedSample, CacheMiss, LMCache, sample_key

#: The finish_reason of a recorded refusal (then `text` is the provider's message), ":STATUS" appended if known.
REFUSED = "selftaught:refused"


def request_sample_key(backend: Backend, params: dict[str, Any], request: CompletionRequest, sample: int) -> str:
    """The cache key of sample `sample` of `request` as `backend` (with request `params`) answers it."""
    return sample_key(provider=backend.name, model=backend.model, system=request.system, message=request.message,
                      temperature=request.temperature, params=params, seed=request.seed, sample=sample)


class CachedBackend(Backend):
    """Serves samples from the cache; in `record` mode fetches and stores the missing ones.

    A sample's key covers provider, model, system prompt, message, temperature, the other
    generation parameters, the stream's seed (run seed and which improver run asked) and the
    sample index, so the k-th sample of a request replays exactly and a finished run re-runs
    offline with the same replies. In `replay` mode a miss is an error: the network is never used.
    A refusal (LMRefused) is recorded for the samples it refused and replays as the same refusal.
    """

    def __init__(self, inner: Backend, cache: LMCache, mode: str, params: dict[str, Any]) -> None:
        self.inner = inner
        self.cache = cache
        self.mode = mode
        self.params = dict(params)
        self.name = inner.name
        self.model = inner.model
        self.notice = inner.notice
        self.used_keys: set[str] = set()  # every sample this process served or stored (to ship with a run)

    def key(self, request: CompletionRequest, sample: int) -> str:
        return request_sample_key(self.inner, self.params, request, sample)

    def generate(self, request: CompletionRequest) -> Generation:
        indices = list(range(request.first_sample, request.first_sample + request.n))
        keys = {i: self.key(request, i) for i in indices}
        self.used_keys.update(keys.values())
        found = self.cache.get_many(list(keys.values()))
        for i in indices:
            if keys[i] in found and _is_refusal(found[keys[i]]):
                raise _refusal(found[keys[i]])
        missing = [i for i in indices if keys[i] not in found]
        if missing and self.mode == "replay":
            raise CacheMiss(provider=self.inner.name, model=self.inner.model, system=request.system,
                            message=request.message, sample=missing[0])
        fresh = [self._fetch(request, run, keys, found) for run in _runs(missing)]
        samples = [found[keys[i]] for i in indices]
        return Generation(
            [s.text for s in samples],
            input_tokens=sum(g.input_tokens for g in fresh),
            output_tokens=sum(g.output_tokens for g in fresh),
            requests=sum(g.requests for g in fresh),
            cache_hits=len(indices) - len(missing),
            finish_reasons=[s.finish_reason for s in samples],
            estimated=any(g.estimated for g in fresh),
            estimate_reason="; ".join(dict.fromkeys(g.estimate_reason for g in fresh if g.estimate_reason)),
        )

    def _fetch(self, request: CompletionRequest, run: list[int], keys: dict[int, str],
               found: dict[str, CachedSample]) -> Generation:
        """Asks the provider for one contiguous run of missing samples and stores each."""
        record = {"system": request.system, "message": request.message, "temperature": request.temperature,
                  "params": self.params, "seed": request.seed}
        try:
            fresh = self.inner.generate(dataclasses.replace(request, n=len(run), first_sample=run[0]))
        except LMRefused as refused:  # recorded, so that a replay of the run meets the same refusal
            marker = REFUSED if refused.status is None else f"{REFUSED}:{refused.status}"
            for i in run:
                self.cache.put(keys[i], CachedSample(str(refused), 0, 0, marker), provider=self.inner.name,
                               model=self.inner.model, request={**record, "sample": i})
            raise
        ins, outs = _shares(fresh.input_tokens, len(run)), _shares(fresh.output_tokens, len(run))
        for j, i in enumerate(run):
            reason = fresh.finish_reasons[j] if j < len(fresh.finish_reasons) else None
            sample = CachedSample(fresh.replies[j], ins[j], outs[j], reason)
            self.cache.put(keys[i], sample, provider=self.inner.name, model=self.inner.model,
                           request={**record, "sample": i})
            found[keys[i]] = sample
        return fresh


def _is_refusal(sample: CachedSample) -> bool:
    return (sample.finish_reason or "").startswith(REFUSED)


def _refusal(sample: CachedSample) -> LMRefused:
    """The recorded refusal, raised again."""
    status = (sample.finish_reason or "").removeprefix(REFUSED).removeprefix(":")
    return LMRefused(sample.text, int(status) if status.isdigit() else None)


def _runs(indices: list[int]) -> list[list[int]]:
    """Splits sorted indices into runs of consecutive numbers."""
    runs: list[list[int]] = []
    for i in indices:
        if runs and runs[-1][-1] == i - 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    return runs


def _shares(total: int, parts: int) -> list[int]:
    """`total` split into `parts` whole shares that add up to it."""
    base, extra = divmod(total, parts)
    return [base + (1 if k < extra else 0) for k in range(parts)]
