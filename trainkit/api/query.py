"""The filter and order language of `Workspace.runs(filter=..., order_by=...)`, the dashboard and
`trainkit runs list --filter`, as MLflow's search_runs:

    metrics.test_accuracy > 0.85 and tags.team = "x"
    (status = "failed" or status = "cancelled") and not experiment like "smoke%"

Keys: `metrics.NAME` (a run's final metrics), `tags.NAME`, `config.DOTTED.KEY` (its resolved
config), `id`, `experiment`, `status`, `compute`, `dataset`, `dataset.version`, `started`,
`ended`, `duration`. Operators: = == != > >= < <= like (SQL `%` and `_` wildcards); `and`, `or`,
`not`, parentheses. Values: numbers, 'strings' or "strings" (escapes: \\\\ \\" \\' \\n \\t \\r
\\uXXXX; every other character as written, UTF-8 included), true, false, null. A `like` pattern is
at most 256 characters and is matched in time proportional to the value's length times the
pattern's, whatever the pattern. A comparison with a key a run does not have is false. A filter
that does not parse raises ValueError naming the position and what was expected there."""
from __future__ import annotations

import functools
import re
from typing import Any, Callable

TOKEN = re.compile(r"""\s*(?:(?P<num>-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)|(?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|"""
                   r"""(?P<op>==|!=|>=|<=|=|>|<|\(|\))|(?P<word>[A-Za-z_][\w.-]*))""")
OPS = ("=", "==", "!=", ">", ">=", "<", "<=", "like")
LIKE_MAX = 256          # characters of a `like` pattern (matching costs up to value length x pattern length)
ESCAPES = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "t": "\t", "r": "\r"}
Getter = Callable[[str], Any]


def tokens(text: str) -> list[tuple[str, str, int]]:
    """(kind, text, position) of each token; ValueError at the first character that starts none."""
    out, pos = [], 0
    while pos < len(text):
        if not text[pos:].strip():
            break
        m = TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ValueError(f"filter {text!r}: unexpected {text[pos:].lstrip()[:1]!r} at position "
                             f"{pos + len(text[pos:]) - len(text[pos:].lstrip())}")
        kind = m.lastgroup
        out.append((kind, m.group(kind), m.start(kind)))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str):
        self.text, self.toks, self.i = text, tokens(text), 0

    def peek(self) -> tuple[str, str, int] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def fail(self, expected: str):
        tok = self.peek()
        where, got = (tok[2], repr(tok[1])) if tok else (len(self.text), "the end")
        raise ValueError(f"filter {self.text!r}: expected {expected} at position {where}, got {got}")

    def word(self, *words: str) -> bool:
        tok = self.peek()
        if tok and tok[0] == "word" and tok[1].lower() in words:
            self.i += 1
            return True
        return False

    def parse(self) -> Callable[[Getter], bool]:
        pred = self.expr()
        if self.peek() is not None:
            self.fail("'and', 'or' or the end")
        return pred

    def expr(self):
        left = self.term()
        while self.word("or"):
            right = self.term()
            left = (lambda a, b: lambda g: a(g) or b(g))(left, right)
        return left

    def term(self):
        left = self.factor()
        while self.word("and"):
            right = self.factor()
            left = (lambda a, b: lambda g: a(g) and b(g))(left, right)
        return left

    def factor(self):
        if self.word("not"):
            inner = self.factor()
            return lambda g: not inner(g)
        tok = self.peek()
        if tok and tok[1] == "(":
            self.i += 1
            inner = self.expr()
            tok = self.peek()
            if not tok or tok[1] != ")":
                self.fail("')'")
            self.i += 1
            return inner
        return self.comparison()

    def comparison(self):
        tok = self.peek()
        if not tok or tok[0] != "word" or tok[1].lower() in ("and", "or", "not", "like", "true", "false", "null"):
            self.fail("a key such as metrics.test_accuracy, tags.team or status")
        key = tok[1]
        self.i += 1
        tok = self.peek()
        op = tok[1].lower() if tok and (tok[0] == "op" or tok[1].lower() == "like") else None
        if op not in OPS:
            self.fail(f"an operator ({' '.join(OPS)})")
        self.i += 1
        start = self.peek()
        value = self.value()
        if op == "like" and isinstance(value, str) and len(value) > LIKE_MAX:
            raise ValueError(f"filter {self.text!r}: a like pattern is at most {LIKE_MAX} characters, got "
                             f"{len(value)} at position {start[2]}")
        return lambda g: compare(g(key), op, value)

    def value(self):
        tok = self.peek()
        if tok is None:
            self.fail("a value")
        kind, text, _ = tok
        self.i += 1
        if kind == "num":
            return float(text)
        if kind == "str":
            return self.unquote(text, tok[2])
        if kind == "word" and text.lower() in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[text.lower()]
        self.i -= 1
        self.fail("a value (a number, a quoted string, true, false or null)")

    def unquote(self, text: str, where: int) -> str:
        """A quoted string's value: its escapes decoded, every other character kept as it is."""
        def one(m: re.Match) -> str:
            esc = m.group(0)
            if esc[1] == "u" and len(esc) == 6:
                return chr(int(esc[2:], 16))
            if esc[1] in ESCAPES:
                return ESCAPES[esc[1]]
            raise ValueError(f"filter {self.text!r}: unknown escape {esc!r} at position {where + 1 + m.start()}; "
                             "expected one of \\\\ \\\" \\' \\n \\t \\r \\uXXXX")
        return re.sub(r"\\(?:u[0-9a-fA-F]{4}|.)", one, text[1:-1], flags=re.S)


def compare(left: Any, op: str, right: Any) -> bool:
    if right is None:   # `= null` / `!= null`: whether the run has the key
        return (left is None) if op in ("=", "==") else (left is not None) if op == "!=" else False
    if left is None:
        return False
    if op == "like":
        return like(str(left), str(right))
    if isinstance(right, float) and not isinstance(left, bool):
        try:
            left = float(left)
        except (TypeError, ValueError):
            return False
    elif isinstance(right, str) or isinstance(left, str):
        left, right = str(left), str(right)
    try:
        return {"=": left == right, "==": left == right, "!=": left != right, ">": left > right,
                ">=": left >= right, "<": left < right, "<=": left <= right}[op]
    except TypeError:
        return False


def like(text: str, pattern: str) -> bool:
    """SQL LIKE (`%` any characters, `_` one character) without backtracking: the pieces between
    `%`s are found in order, each at its leftmost place after the one before (leftmost is always
    safe: it leaves the most text for the rest), the first anchored at the start, the last at the
    end. A piece holds no repetition, so finding it costs at most len(text) x len(piece)."""
    first, *pieces = _pieces(pattern)
    if not pieces:
        return len(text) == len(pattern) and first.match(text) is not None
    if first.match(text) is None:
        return False
    pos, last = len(first.pattern_text), pieces.pop()
    for piece in pieces:
        found = piece.search(text, pos)
        if found is None:
            return False
        pos = found.end()
    start = len(text) - len(last.pattern_text)
    return start >= pos and last.match(text, start) is not None


class _Piece:
    """A run of a pattern between `%`s: characters and `_` (any one), no repetition."""

    def __init__(self, text: str):
        self.pattern_text = text
        self.rx = re.compile("".join("." if c == "_" else re.escape(c) for c in text), re.S)

    def match(self, text: str, pos: int = 0):
        return self.rx.match(text, pos)

    def search(self, text: str, pos: int):
        return self.rx.search(text, pos)


@functools.lru_cache(maxsize=256)
def _pieces(pattern: str) -> list[_Piece]:
    return [_Piece(p) for p in pattern.split("%")]


def parse_filter(text: str | None) -> Callable[[Getter], bool]:
    """A predicate over a key getter; an empty filter accepts everything."""
    if not text or not text.strip():
        return lambda g: True
    return _Parser(text).parse()


def parse_order(order_by: str | list[str] | None) -> list[tuple[str, bool]]:
    """`"metrics.test_accuracy desc"` (or a list of them) -> [(key, descending)]."""
    items = [order_by] if isinstance(order_by, str) else list(order_by or [])
    out = []
    for item in items:
        parts = item.split()
        if not parts or len(parts) > 2 or (len(parts) == 2 and parts[1].lower() not in ("asc", "desc")):
            raise ValueError(f"order_by {item!r}: expected 'KEY' or 'KEY asc|desc'")
        out.append((parts[0], len(parts) == 2 and parts[1].lower() == "desc"))
    return out


def sort_by(items: list, order: list[tuple[str, bool]], get: Callable[[Any, str], Any]) -> list:
    """Stable sort by each (key, descending), last key first; missing values always last."""
    for key, desc in reversed(order):
        present = [x for x in items if get(x, key) is not None]
        missing = [x for x in items if get(x, key) is None]
        present.sort(key=lambda x: _sortable(get(x, key)), reverse=desc)
        items = present + missing
    return items


def _sortable(v):
    return (0, v, "") if isinstance(v, (int, float)) and not isinstance(v, bool) else (1, 0, str(v))
