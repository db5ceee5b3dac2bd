"""Run-wide caps: each LM call reserves its worst case first, so neither one call nor concurrent ones overshoot."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from openai_server import FakeOpenAIServer
from selftaught.broker import Services
from selftaught.config import Config
from selftaught.errors import ConfigError, LMError, LMRefused, RunLimitReached
from selftaught.lm import Backend, CompletionRequest, Generation, MutateBackend, parse_backend
from selftaught.lm._cached import CachedBackend
from selftaught.lm._journal import JournalBackend
from selftaught.lm.cache import LMCache
from selftaught.lm.caps import MIN_REPLY_TOKENS, RunCaps, reserved_prompt_tokens
from selftaught.lm.pricing import price_table
from selftaught.lm.session import LanguageModel
from selftaught.lm.usage import UsageMeter

PRICES = {"test-model": {"input": 10.0, "output": 100.0}}  # dollars per 1M tokens: an output token is $0.0001


class FillingBackend(Backend):
    """A model that always writes as long as it may: every sample uses the request's whole token limit."""

    name, model = "filling", "test-model"

    def __init__(self, max_tokens: int, *, fail: Exception | None = None, delay: float = 0.0) -> None:
        self.max_tokens = max_tokens
        self.fail = fail
        self.delay = delay
        self.limits: list[int] = []  # the token limit of each request, as sent
        self.in_flight = 0
        self.most_in_flight = 0
        self._lock = threading.Lock()

    def generate(self, request: CompletionRequest) -> Generation:
        limit = request.token_limit(self.max_tokens)
        with self._lock:
            self.limits.append(limit)
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            time.sleep(self.delay)
            if self.fail is not None:
                raise self.fail
            return Generation(["x"] * request.n, input_tokens=10 * request.n, output_tokens=limit * request.n,
                              requests=request.n)
        finally:
            with self._lock:
                self.in_flight -= 1


def capped(backend: Backend, *, max_usd: float | None = None, max_calls: int | None = None,
           prices: dict[str, Any] | None = None) -> tuple[UsageMeter, RunCaps]:
    """The caps of a run with `backend`, configured with the backend's own max_tokens."""
    meter = UsageMeter(price_table(PRICES if prices is None else prices))
    config = Config(max_usd=max_usd, max_calls=max_calls, max_tokens=getattr(backend, "max_tokens", 2048))
    return meter, RunCaps.for_model(meter, config, backend.model)


def model(backend: Backend, meter: UsageMeter, caps: RunCaps, stream: str = "s") -> LanguageModel:
    return LanguageModel(backend, budget=1000, max_responses_per_call=8, stream=stream, caps=caps,
                         on_call=lambda record: meter.add(record, None))


def test_a_call_that_could_overshoot_gets_its_max_tokens_lowered_and_the_run_stops_at_the_cap() -> None:
    backend = FillingBackend(10_000)  # one sample could cost $1
    meter, caps = capped(backend, max_usd=0.5)
    lm = model(backend, meter, caps)
    with pytest.raises(RunLimitReached, match=r"^--max-usd 0.5 reached: .* left, less than the next call may cost"):
        for _ in range(20):
            lm.prompt("s", "m", n_responses=2)
    spent = meter.report()["cost_usd"]
    assert 0.45 < spent <= 0.5  # spent up to the cap, never past it
    assert backend.limits[0] < 10_000 and all(limit >= MIN_REPLY_TOKENS for limit in backend.limits)


def test_a_call_that_fits_is_sent_with_the_configured_limit_and_its_reservation_is_released() -> None:
    backend = FillingBackend(1_000)  # two samples: at most $0.2
    meter, caps = capped(backend, max_usd=5.0)
    lm = model(backend, meter, caps)
    seen: list[dict[str, Any]] = []
    lm._on_call = lambda record: (seen.append(record), meter.add(record, None))
    lm.prompt("s", "m", n_responses=2)
    assert backend.limits == [1_000] and seen[0]["max_tokens"] is None
    left = meter.spending()
    assert (left.calls, left.calls_reserved, left.usd_reserved) == (1, 0, 0.0)  # settled: spent, nothing held


def test_reservations_of_calls_in_flight_are_counted_together() -> None:
    backend = FillingBackend(1_000)
    _, caps = capped(backend, max_usd=0.15)  # a call's worst case: about $0.10
    request = CompletionRequest("s", "m", 0.7, 1)
    worst = caps.price.cost(reserved_prompt_tokens(request), 1_000) if caps.price else 0
    first = caps.reserve([request])
    assert first.max_tokens is None and first.usd == pytest.approx(worst)
    second = caps.reserve([request])  # the first one's worst case still counts: this one gets what is left
    assert second.max_tokens is not None and second.max_tokens < 1_000
    assert first.usd + second.usd <= 0.15
    with pytest.raises(RunLimitReached, match=r"reserved by calls in flight"):
        caps.reserve([request])
    caps.release(first)
    caps.release(second)
    assert caps.reserve([request]).max_tokens is None  # released: room again


def test_a_failed_call_releases_its_reservation_too() -> None:
    for failure in (LMRefused("refused", 400), LMError("gone"), RecursionError("deep")):
        backend = FillingBackend(2_000, fail=failure)  # a call reserves about $0.2 of the $0.25
        meter, caps = capped(backend, max_usd=0.25)
        lm = model(backend, meter, caps)
        for _ in range(3):  # each call could only be made if the previous one released its reservation
            with pytest.raises((LMRefused, LMError)):
                lm.prompt("s", "m")
        assert backend.limits == [2_000] * 3 and meter.spending().usd_reserved == 0.0


def test_concurrent_calls_do_not_jointly_overshoot_the_cap() -> None:
    backend = FillingBackend(5_000, delay=0.05)  # a sample could cost $0.5
    meter, caps = capped(backend, max_usd=1.0)
    stops: list[RunLimitReached] = []

    def improver(index: int) -> None:
        lm = model(backend, meter, caps, stream=f"s{index}")
        try:
            for _ in range(5):
                lm.batch_prompt("s", [f"a{index}", f"b{index}", f"c{index}"])
        except RunLimitReached as stop:
            stops.append(stop)

    threads = [threading.Thread(target=improver, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(stops) == 6 and backend.limits  # every improver was stopped by the cap, after some calls
    assert meter.report()["cost_usd"] <= 1.0


def test_max_calls_counts_calls_in_flight() -> None:
    backend = FillingBackend(10, delay=0.2)
    meter, caps = capped(backend, max_calls=3)
    outcomes: list[str] = []

    def call(index: int) -> None:
        try:
            model(backend, meter, caps, stream=f"s{index}").prompt("s", "m")
            outcomes.append("made")
        except RunLimitReached:
            outcomes.append("stopped")

    threads = [threading.Thread(target=call, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("made") == 3 and meter.report()["calls"] == 3


def test_a_dollar_cap_on_a_model_without_a_price_is_refused_not_ignored() -> None:
    backend = FillingBackend(10)
    backend.model = "unpriced-model"
    with pytest.raises(ConfigError, match=r"--max-usd 1 cannot be enforced: no price is known for model "
                                          r"'unpriced-model'.*\[prices\]"):
        capped(backend, max_usd=1.0)
    capped(backend)  # no dollar cap: its calls are reported as unpriced, as before
    free = capped(backend, max_usd=1.0, prices={"unpriced-model": {"input": 0, "output": 0}})[1]
    assert free.reserve([CompletionRequest("s", "m", 0.7, 4)]).usd == 0.0
    offline = capped(MutateBackend(), max_usd=0.01)[1]  # no model: nothing to pay
    assert offline.reserve([CompletionRequest("s", "m", 0.7, 4)]).usd == 0.0


def test_services_refuse_a_dollar_cap_they_cannot_price() -> None:
    backend = FillingBackend(10)
    backend.model = "unpriced-model"
    services = Services(Config(max_usd=1.0), backend, sandbox=None)
    with pytest.raises(ConfigError, match="cannot be enforced"):
        services.language_model("s", "task")


def test_a_reply_cut_short_by_the_cap_is_cached_apart_from_a_full_one(tmp_path: Path) -> None:
    inner = FillingBackend(1_000)
    cached = CachedBackend(inner, LMCache(tmp_path / "c.sqlite"), "record", {"max_tokens": 1_000})
    full = CompletionRequest("s", "m", 0.7, 1)
    short = CompletionRequest("s", "m", 0.7, 1, max_tokens=300)
    cached.generate(short)
    cached.generate(full)
    cached.generate(short)
    assert inner.limits == [300, 1_000]  # the full request was not served the cut-short reply
    cached.generate(CompletionRequest("s", "other", 0.7, 1))
    cached.generate(CompletionRequest("s", "other", 0.7, 1, max_tokens=500))
    assert inner.limits == [300, 1_000, 1_000]  # a cut-short request is served a full reply already paid for


class Numbered(Backend):
    """Replies with the token limit it was sent, so a test can tell which recording a reply came from."""

    name, model = "numbered", "test-model"

    def generate(self, request: CompletionRequest) -> Generation:
        return Generation([f"limit {request.token_limit(1_000)}"] * request.n, 5, 5, 1)


@pytest.mark.parametrize("journaled", [False, True])
def test_a_replay_gets_the_cut_short_reply_the_recording_got_though_it_asks_with_the_full_limit(
    tmp_path: Path, journaled: bool
) -> None:
    path = tmp_path / "c.sqlite"
    short = CompletionRequest("s", "m", 0.7, 2, max_tokens=300)
    if journaled:  # the run directory's journal, as `--cache replay --cache-path RUN/lm-cache.sqlite` reads it
        journal = JournalBackend(Numbered(), path, {"max_tokens": 1_000})
        assert journal.generate(short).replies == ["limit 300"] * 2
        journal.close()
    else:
        CachedBackend(Numbered(), LMCache(path), "record", {"max_tokens": 1_000}).generate(short)
    replay = CachedBackend(Numbered(), LMCache(path), "replay", {"max_tokens": 1_000})
    assert replay.generate(CompletionRequest("s", "m", 0.7, 2)).replies == ["limit 300"] * 2
    recording = CachedBackend(Numbered(), LMCache(path), "record", {"max_tokens": 1_000})
    assert recording.generate(CompletionRequest("s", "m", 0.7, 2)).replies == ["limit 1000"] * 2


def filling_reply(body: dict[str, Any], index: int) -> str:
    """A server's model that writes exactly as many (fake) tokens as max_tokens allows."""
    return "x" * (4 * (int(body["max_tokens"]) - 1))


def server_config(srv: FakeOpenAIServer, tmp_path: Path, **kw: Any) -> Config:
    base: dict[str, Any] = {"lm": "openai:test-model", "base_url": srv.url, "cache": "off", "prices": PRICES,
                            "cache_path": str(tmp_path / "cache.sqlite"), "request_timeout": 10.0,
                            "max_tokens": 50_000}
    return Config(**{**base, **kw})


def test_against_a_server_that_fills_any_max_tokens_the_spent_total_never_exceeds_the_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    with FakeOpenAIServer(reply=filling_reply) as srv:  # one reply of 50000 tokens would cost $5
        cfg = server_config(srv, tmp_path, max_usd=0.5)
        services = Services(cfg, parse_backend(cfg.lm, cfg), sandbox=None)
        lm = services.language_model("s", "task")
        with pytest.raises(RunLimitReached, match=r"--max-usd 0\.5 reached"):
            for i in range(20):
                lm.prompt("expert", f"improve {i}", n_responses=2)
        sent = [r["body"]["max_tokens"] for r in srv.requests]
    assert sent and max(sent) < 50_000
    usage = services.usage.report()
    assert 0.4 < usage["cost_usd"] <= 0.5 and usage["calls"] == len(sent)


def test_the_prompt_is_reserved_once_per_request_only_once_the_server_is_known_to_honour_n(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    for honours, copies in ((True, 1), (False, 3)):
        with FakeOpenAIServer(supports_n=honours) as srv:
            cfg = server_config(srv, tmp_path)
            backend = parse_backend(cfg.lm, cfg)
            assert backend.prompt_copies(3) == 3  # not known yet: each sample may be a request of its own
            backend.generate(CompletionRequest("s", "m", 0.7, 3))
            assert backend.prompt_copies(3) == copies


def test_concurrent_batches_against_the_server_do_not_jointly_overshoot_the_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    with FakeOpenAIServer(reply=filling_reply, delay=0.2) as srv:
        cfg = server_config(srv, tmp_path, max_usd=1.0, max_tokens=20_000)  # a reply could cost $2
        services = Services(cfg, parse_backend(cfg.lm, cfg), sandbox=None)
        stops: list[RunLimitReached] = []

        def improver(index: int) -> None:
            lm = services.language_model(f"s{index}", "task")
            try:
                for _ in range(4):
                    lm.batch_prompt("expert", [f"a {index}", f"b {index}", f"c {index}"])
            except RunLimitReached as stop:
                stops.append(stop)

        threads = [threading.Thread(target=improver, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert srv.max_in_flight >= 2 and len(stops) == 4  # requests overlapped, and every improver was stopped
    assert services.usage.report()["cost_usd"] <= 1.0
