"""Whether a server's reported token usage is believable; the estimate, and why, where it is not."""

from __future__ import annotations

from dataclasses import dataclass

from selftaught.lm._base import estimate_tokens

#: With several choices, reported completion tokens below this share of the estimate for their texts are
#: implausible (llama.cpp's server reports the tokens of one choice only). Real tokenizers land within about
#: 0.7..1.5 of the estimate; one choice of two is about 0.5 of it.
PLAUSIBLE_SHARE = 0.6


@dataclass(frozen=True)
class Tokens:
    """Token counts of one provider request.

    Attributes:
      input, output: the reported counts, or the estimate where a count was missing or implausible.
      estimated: why a count was estimated ("" when both are as reported).
    """

    input: int
    output: int
    estimated: str = ""


def _count(value: object) -> int | None:
    """A reported count as an int; None when missing, negative or not a whole number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if value < 0 or value != int(value):
        return None
    return int(value)


def checked_tokens(reported_input: object, reported_output: object, prompt_estimate: int, texts: list[str]) -> Tokens:
    """The token counts to account for one request that produced `texts` (`prompt_estimate`: its prompt's)."""
    if reported_input is None and reported_output is None:
        return Tokens(prompt_estimate, sum(estimate_tokens(t) for t in texts), "no usage reported")
    reasons: list[str] = []
    inputs = _count(reported_input)
    if inputs is None:
        reasons.append("no usable input token count" if reported_input is None else
                       f"input token count {reported_input!r} unusable")
        inputs = prompt_estimate
    need = sum(estimate_tokens(t) for t in texts)
    outputs = _count(reported_output)
    if outputs is None:
        reasons.append("no usable output token count" if reported_output is None else
                       f"output token count {reported_output!r} unusable")
        outputs = need
    elif len(texts) > 1 and outputs < PLAUSIBLE_SHARE * need:
        reasons.append(f"{outputs} output tokens reported for {len(texts)} choices that need about {need}")
        outputs = need
    elif outputs == 0 and any(texts):
        reasons.append(f"0 output tokens reported for a reply that needs about {need}")
        outputs = need
    return Tokens(inputs, outputs, "; ".join(reasons))
