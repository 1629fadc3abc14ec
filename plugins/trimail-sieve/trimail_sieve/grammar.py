"""A check of the generic Sieve grammar (RFC 5228 §8.2), run after sievelib's parser.

sievelib checks each command's arguments well but lets a few structures through that
the grammar forbids (``if anyof(true) false {}`` loses the ``false``). This recognizer
walks sievelib's own tokens through the grammar below and refuses anything else::

    commands   = *command
    command    = identifier arguments ( ";" / block )
    block      = "{" commands "}"
    arguments  = *argument [ test / test-list ]
    argument   = string-list / number / tag
    test       = identifier arguments
    test-list  = "(" test *("," test) ")"
    string-list = "[" string *("," string) "]" / string
"""

from __future__ import annotations

from sievelib.parser import Lexer, Parser

_COMMENTS = ("hash_comment", "bracket_comment")
_ARGUMENT_START = ("string", "multiline", "number", "tag", "left_bracket")


class GrammarError(Exception):
    """The token stream breaks RFC 5228 §8.2; ``offset`` is the octet offset."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


class _Tokens:
    def __init__(self, source: bytes, max_depth: int) -> None:
        lexer = Lexer(Parser.lrules)
        self.items: list[tuple[str, int]] = []
        for kind, _value in lexer.scan(source):
            if kind not in _COMMENTS:
                self.items.append((kind, lexer.pos))
        self.index = 0
        self.end = len(source)
        self.max_depth = max_depth

    def peek(self) -> str:
        return self.items[self.index][0] if self.index < len(self.items) else "end"

    def take(self, kind: str, what: str) -> None:
        if self.peek() != kind:
            raise GrammarError(f"{what} expected", self.offset())
        self.index += 1

    def offset(self) -> int:
        return self.items[self.index][1] if self.index < len(self.items) else self.end

    def commands(self, depth: int) -> None:
        while self.peek() == "identifier":
            self.command(depth)

    def command(self, depth: int) -> None:
        self.take("identifier", "a command")
        self.arguments(depth)
        if self.peek() == "semicolon":
            self.index += 1
            return
        self.take("left_cbracket", "';' or '{'")
        self.deeper(depth)
        self.commands(depth + 1)
        self.take("right_cbracket", "'}'")

    def arguments(self, depth: int) -> None:
        while self.peek() in _ARGUMENT_START:
            if self.peek() == "left_bracket":
                self.string_list()
            else:
                self.index += 1
        if self.peek() == "identifier":
            self.deeper(depth)
            self.test(depth + 1)
        elif self.peek() == "left_parenthesis":
            self.deeper(depth)
            self.index += 1
            self.test(depth + 1)
            while self.peek() == "comma":
                self.index += 1
                self.test(depth + 1)
            self.take("right_parenthesis", "')'")

    def test(self, depth: int) -> None:
        self.take("identifier", "a test")
        self.arguments(depth)

    def string_list(self) -> None:
        self.take("left_bracket", "'['")
        self.take("string", "a string")
        while self.peek() == "comma":
            self.index += 1
            self.take("string", "a string")
        self.take("right_bracket", "']'")

    def deeper(self, depth: int) -> None:
        if depth >= self.max_depth:
            raise GrammarError(f"nested more than {self.max_depth} deep", self.offset())


def check_grammar(source: bytes, *, max_depth: int) -> None:
    """Check *source* against the generic grammar (RFC 5228 §8.2).

    Args:
        source: a script sievelib's parser accepted (so its tokens are valid).
        max_depth: the deepest nesting of blocks and tests allowed.

    Raises:
        GrammarError: the first place where the grammar is broken, or nesting too deep.
    """
    tokens = _Tokens(source, max_depth)
    tokens.commands(0)
    if tokens.peek() != "end":
        raise GrammarError("a command expected", tokens.offset())
