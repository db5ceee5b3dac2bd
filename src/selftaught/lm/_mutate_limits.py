"""The mutate backend's bounds: its work per request is linear in the message and bounded, whatever the prompt.

Attributes:
  MAX_MESSAGE_CHARS: characters of a message read; the rest is ignored (a program file may hold 1 MiB).
  MAX_PROGRAMS: parseable code blocks taken as parents (the first ones, scorer excluded).
  MAX_TREE_NODES, MAX_TREE_DEPTH: a parent with more AST nodes, or deeper, is not edited as a tree
    (copying, mutating and unparsing a tree cost per node, and copying and unparsing recurse per level);
    it gets the textual fallback instead: one numeric literal changed in its text.
  MAX_CLOSE_TRIES: where a code block does not parse (a fence line inside a string literal cut it short),
    the closing fences tried for its opening, at most; the first after which the body parses ends the block.
  PARSE_BUDGET: that re-cutting parses at most this many times the message's size in all.
  FENCE_LENGTH_CAP: fence lengths are compared up to this many characters (a closing fence must be at least
    as long as its opening one, up to this length).
"""

from __future__ import annotations

MAX_MESSAGE_CHARS = 1 << 20
MAX_PROGRAMS = 64
MAX_TREE_NODES = 20_000
MAX_TREE_DEPTH = 100
MAX_CLOSE_TRIES = 8
PARSE_BUDGET = 4
FENCE_LENGTH_CAP = 16
