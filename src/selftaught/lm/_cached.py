"""Record/replay around a real provider: every sample stored under its canonical request and sample index."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from selftaught.errors import LMRefused
from selftaught.lm._base import Backend, CompletionRequest, Generation
from selftaught.lm.cache import CachedSample, CacheMiss, LMCache, sample_key

#: The finish_reason of a recorded refusal (then `text` is the provider's message), ":STATUS" appended if known.
REFUSED = "selftaught:refused"
#: The parameter that marks the alias a reply cut short by a dollar cap is also stored under (see `capped_key`).
CAPPED = "cut_short_by_cap"


def request_params(params: dict[str, Any], request: CompletionRequest) -> dict[str, Any]:
    """The generation parameters `request` is sent with: `params`, with its own lower max_tokens if it has one
    (a reply cut short by a dollar cap is never replayed for a request with the full limit)."""
    if request.max_tokens is None:
        return params
    configured = params.get("max_tokens")
    limit = request.token_limit(configured) if isinstance(configured, int) else request.max_tokens
    return {**params, "max_tokens": limit}


def request_sample_key(backend: Backend, params: dict[str, Any], request: CompletionRequest, sample: int) -> str:
    """The cache key of sample `sample` of `request` as `backend` (with request `params`) answers it."""
    return sample_key(provider=backend.name, model=backend.model, system=request.system, message=request.message,
                      temperature=request.temperature, params=request_params(params, request), seed=request.seed,
                      sample=sample)


def capped_key(backend: Backend, params: dict[str, Any], request: CompletionRequest, sample: int) -> str:
    """The alias under which a sample of a request whose max_tokens a dollar cap lowered is also stored: the key
    of the same request at the configured limit, marked. A replay, which spends nothing and so never lowers a
    limit, falls back on it (and gets what the run got); a recording never reads it (no cut-short reply is
    served for a full one)."""
    full = dataclasses.replace(request, max_tokens=None)
    return request_sample_key(backend, {**params, CAPPED: True}, full, sample)


def store_sample(cache: LMCache, backend: Backend, params: dict[str, Any], request: CompletionRequest, sample: int,
                 key: str, value: CachedSample) -> list[str]:
    """Stores a sample under `key` (and under its `capped_key` if a cap lowered the request's limit); the keys."""
    record = {"system": request.system, "message": request.message, "temperature": request.temperature,
              "params": request_params(params, request), "seed": request.seed, "sample": sample}
    keys = [key] if request.max_tokens is None else [key, capped_key(backend, params, request, sample)]
    for where in keys:
        cache.put(where, value, provider=backend.name, model=backend.model, request=record)
    return keys


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

    def prompt_copies(self, n: int) -> int:
        return self.inner.prompt_copies(n)

    def generate(self, request: CompletionRequest) -> Generation:
        indices = list(range(request.first_sample, request.first_sample + request.n))
        keys = {i: self.key(request, i) for i in indices}
        self.used_keys.update(keys.values())
        found = self.cache.get_many(list(keys.values()))
        if request.max_tokens is not None:  # a cap lowered the limit: a full reply already cached costs nothing
            self._fallback(request, [i for i in indices if keys[i] not in found], keys, found, self._full_key)
        if self.mode == "replay":
            self._fallback(request, [i for i in indices if keys[i] not in found], keys, found, self._capped_key)
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

    def _full_key(self, request: CompletionRequest, sample: int) -> str:
        return self.key(dataclasses.replace(request, max_tokens=None), sample)

    def _capped_key(self, request: CompletionRequest, sample: int) -> str:
        return capped_key(self.inner, self.params, request, sample)

    def _fallback(self, request: CompletionRequest, missing: list[int], keys: dict[int, str],
                  found: dict[str, CachedSample], alias: Callable[[CompletionRequest, int], str]) -> None:
        """Missing samples found under another key: a full-limit reply for a request a cap cut short, or (replay
        only) the reply the recording run got when a cap cut its request short."""
        if not missing:
            return
        aliases = {i: alias(request, i) for i in missing}
        got = self.cache.get_many(list(aliases.values()))
        for i, where in aliases.items():
            if where in got:
                found[keys[i]] = got[where]
                self.used_keys.add(where)

    def _fetch(self, request: CompletionRequest, run: list[int], keys: dict[int, str],
               found: dict[str, CachedSample]) -> Generation:
        """Asks the provider for one contiguous run of missing samples and stores each."""
        try:
            fresh = self.inner.generate(dataclasses.replace(request, n=len(run), first_sample=run[0]))
        except LMRefused as refused:  # recorded, so that a replay of the run meets the same refusal
            marker = REFUSED if refused.status is None else f"{REFUSED}:{refused.status}"
            for i in run:
                self.used_keys.update(store_sample(self.cache, self.inner, self.params, request, i, keys[i],
                                                   CachedSample(str(refused), 0, 0, marker)))
            raise
        ins, outs = _shares(fresh.input_tokens, len(run)), _shares(fresh.output_tokens, len(run))
        for j, i in enumerate(run):
            reason = fresh.finish_reasons[j] if j < len(fresh.finish_reasons) else None
            sample = CachedSample(fresh.replies[j], ins[j], outs[j], reason)
            self.used_keys.update(store_sample(self.cache, self.inner, self.params, request, i, keys[i], sample))
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
