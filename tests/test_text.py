"""Candidate text made inert for a terminal: every control character and bidi control becomes a visible escape."""

from __future__ import annotations

import json

import pytest

from selftaught._text import json_safe, visible

HOSTILE = ("\x1b[2K\rscore 1.0000 failures: none"  # erase the line, redraw it
           "\x1b]0;pwned\x07"  # set the window title
           "\x9b31m"  # an 8-bit CSI
           "\u202eevil\u202c \u2066iso\u2069 \u200f"  # bidi override, isolate, mark
           "\x00\x7f\x08")


@pytest.mark.parametrize("char", [chr(c) for c in (*range(0x20), 0x7F, *range(0x80, 0xA0), 0x61C, 0x200E, 0x200F,
                                                   *range(0x202A, 0x202F), *range(0x2066, 0x206A))])
def test_every_control_character_is_shown_as_an_escape(char: str) -> None:
    shown = visible(f"a{char}b", keep="")
    assert char not in shown and shown.startswith("a\\") and shown.endswith("b")


def test_newline_and_tab_are_kept_unless_asked_not_to() -> None:
    assert visible("a\n\tb") == "a\n\tb"
    assert visible("a\n\tb", keep="") == "a\\n\\tb"
    assert visible("line\r\n") == "line\\r\n"  # a carriage return could redraw the line: shown


def test_a_hostile_message_is_printable_text_that_still_says_what_it_was() -> None:
    shown = visible(HOSTILE)
    assert all(c.isprintable() for c in shown)
    assert shown.startswith("\\x1b[2K\\rscore 1.0000") and "\\x1b]0;pwned\\x07" in shown
    assert "\\x9b31m" in shown and "\\u202eevil\\u202c" in shown and "\\u2066iso\\u2069" in shown


def test_ordinary_text_is_unchanged() -> None:
    text = "Ünïcödé — ±0.304 [95% CI] 日本語 `code` \\x1b (a literal backslash) ✓"
    assert visible(text) == text == json_safe(text)


def test_json_safe_is_the_same_json_value_with_nothing_a_terminal_acts_on() -> None:
    encoded = json.dumps({"detail": HOSTILE, "k\u202e": [1, "\x85"]}, ensure_ascii=False)
    safe = json_safe(encoded)
    assert json.loads(safe) == json.loads(encoded)
    assert all(c.isprintable() for c in safe)
