"""A manifest's ``where`` evaluated by pyarrow in the direct Parquet read, where it means exactly what
Spark SQL means; anything else keeps Spark's reader (direct_plan.py). Parsing and typing are pure.

What is pushed: comparisons (``= == != <> < <= > >=``) of integer columns with integer literals or
integer columns, of string columns with single-quoted string literals or string columns, of
boolean columns with TRUE/FALSE (``=``, ``!=``, ``<>`` only); ``IS [NOT] NULL``; ``[NOT] IN`` a list of
such literals; a bare boolean column; ``AND``, ``OR``, ``NOT`` and parentheses. Spark's three-valued
logic is Kleene's, which pyarrow's ``and_kleene``/``or_kleene``/``invert`` compute; a row whose
condition is NULL is dropped, as by ``df.where``. Integers compare as int64 (Spark widens both sides
of a comparison to the wider type, and an integer literal is an INT or a BIGINT); strings compare
by their UTF-8 bytes in both. Refused, with the reason: floating columns (Spark's NaN equals NaN
and is above every number; IEEE's, pyarrow's, is not), decimals, dates and timestamps (literal
casts), functions, arithmetic, ``<=>``, double-quoted or escaped strings (Spark's escapes and its
adjacent-literal concatenation), NULL literals and ``IN`` lists holding NULL.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_TOKEN = re.compile(r"\s*(?:(?P<num>-?\d+(?![\w.]))|(?P<str>'[^'\\]*')|(?P<qid>`(?:[^`]|``)+`)|"
                    r"(?P<id>[A-Za-z_][A-Za-z0-9_]*)|(?P<op><=>|==|!=|<>|<=|>=|[=<>(),]))")
_INT64 = (-(2 ** 63), 2 ** 63 - 1)
#: the file column's Arrow type (as Spark reads it, plan/footer_types.py) -> the kind compared
_KIND = {"int8": "integer", "int16": "integer", "int32": "integer", "int64": "integer", "string": "string",
         "large_string": "string", "string_view": "string", "bool": "boolean"}
_OPS = {"=": "equal", "==": "equal", "!=": "not_equal", "<>": "not_equal", "<": "less", "<=": "less_equal",
        ">": "greater", ">=": "greater_equal"}


@dataclass(frozen=True)
class Column:
    name: str
    kind: str


@dataclass(frozen=True)
class Literal:
    value: Any
    kind: str


@dataclass(frozen=True)
class Node:
    """``op`` over ``args``: and, or, not, is_null, is_not_null, in, not_in, or a comparison (_OPS)."""

    op: str
    args: tuple[Any, ...]


class Refused(Exception):
    """The condition is not one pyarrow evaluates as Spark does; the message says why."""


@dataclass(frozen=True)
class Where:
    """A parsed condition, and the file columns it reads."""

    tree: Any
    columns: tuple[str, ...]


def parse_where(text: str, columns: Mapping[str, str]) -> Where | str:
    """``text`` over the file ``columns`` (name -> Arrow type), or why Spark evaluates it."""
    try:
        parser = _Parser(_tokens(text), columns)
        tree = parser.expr()
        if parser.pos != len(parser.tokens):
            raise Refused(f"{parser.tokens[parser.pos][1]!r} after a complete condition")
        tree = _condition(tree)
    except Refused as exc:
        return f"source.where is Spark's to evaluate ({exc})"
    return Where(tree, tuple(dict.fromkeys(parser.used)))


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None:
            raise Refused(f"{text[pos:].strip()[:20]!r} is not pushed down")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], columns: Mapping[str, str]) -> None:
        self.tokens, self.pos, self.columns = tokens, 0, columns
        self.used: list[str] = []

    def _peek(self, offset: int = 0) -> tuple[str, str]:
        i = self.pos + offset
        return self.tokens[i] if i < len(self.tokens) else ("end", "")

    def _keyword(self, word: str) -> bool:
        kind, value = self._peek()
        if kind == "id" and value.upper() == word:
            self.pos += 1
            return True
        return False

    def _expect(self, value: str) -> None:
        if self._peek()[1] != value:
            raise Refused(f"expected {value!r}")
        self.pos += 1

    def expr(self) -> Any:
        args = [self._and()]
        while self._keyword("OR"):
            args.append(self._and())
        return args[0] if len(args) == 1 else Node("or", tuple(_condition(a) for a in args))

    def _and(self) -> Any:
        args = [self._not()]
        while self._keyword("AND"):
            args.append(self._not())
        return args[0] if len(args) == 1 else Node("and", tuple(_condition(a) for a in args))

    def _not(self) -> Any:
        if self._keyword("NOT"):
            return Node("not", (_condition(self._not()),))
        return self._predicate()

    def _predicate(self) -> Any:
        if self._peek()[1] == "(":
            self.pos += 1
            inner = self.expr()
            self._expect(")")
            return inner
        left = self._operand()
        if self._keyword("IS"):
            negated = self._keyword("NOT")
            if not self._keyword("NULL"):
                raise Refused("IS takes NULL or NOT NULL only")
            return Node("is_not_null" if negated else "is_null", (_column(left),))
        negated = self._keyword("NOT")
        if self._keyword("IN"):
            return Node("not_in" if negated else "in", (_column(left), self._in_list(_column(left))))
        if negated:
            raise Refused("NOT after an operand is only NOT IN")
        kind, op = self._peek()
        if kind == "op" and op in _OPS:
            self.pos += 1
            return _compare(_OPS[op], left, self._operand())
        return left

    def _in_list(self, column: Column) -> tuple[Any, ...]:
        self._expect("(")
        values = [self._operand()]
        while self._peek()[1] == ",":
            self.pos += 1
            values.append(self._operand())
        self._expect(")")
        literals = [v for v in values if isinstance(v, Literal) and v.kind == column.kind]
        if len(literals) != len(values):
            raise Refused(f"IN on {column.name} takes {column.kind} literals only")
        return tuple(v.value for v in literals)

    def _operand(self) -> Column | Literal:
        kind, value = self._peek()
        self.pos += 1
        if kind == "num":
            number = int(value)
            if not _INT64[0] <= number <= _INT64[1]:
                raise Refused(f"{value} is a DECIMAL literal to Spark")
            return Literal(number, "integer")
        if kind == "str":
            if self._peek()[0] == "str":
                raise Refused("adjacent string literals are one to Spark")
            return Literal(value[1:-1], "string")
        if kind == "id" and value.upper() in ("TRUE", "FALSE"):
            return Literal(value.upper() == "TRUE", "boolean")
        if kind == "id" and value.upper() in ("NULL", "AND", "OR", "NOT", "IS", "IN"):
            raise Refused(f"{value} where a column or a literal belongs")
        if kind in ("id", "qid"):
            if self._peek()[1] == "(":
                raise Refused(f"function {value}()")
            name = value if kind == "id" else value[1:-1].replace("``", "`")
            return self._resolve(name)
        raise Refused(f"{value!r} where a column or a literal belongs" if value else "the condition ends early")

    def _resolve(self, name: str) -> Column:
        """Spark's default resolution (spark.sql.caseSensitive false): case-insensitive, unique."""
        found = [c for c in self.columns if c.lower() == name.lower()]
        if len(found) != 1:
            raise Refused(f"column {name!r} is not one column of every file")
        kind = _KIND.get(self.columns[found[0]])
        if kind is None:
            raise Refused(f"column {found[0]!r} is {self.columns[found[0]]}, which is not pushed down")
        self.used.append(found[0])
        return Column(found[0], kind)


def _column(operand: Any) -> Column:
    if not isinstance(operand, Column):
        raise Refused("IS NULL and IN take a column")
    return operand


def _condition(tree: Any) -> Any:
    if isinstance(tree, Column) and tree.kind == "boolean":
        return Node("equal", (tree, Literal(True, "boolean")))
    if not isinstance(tree, Node):
        raise Refused("it is not a condition")
    return tree


def _compare(op: str, left: Any, right: Any) -> Node:
    if not (isinstance(left, Column) or isinstance(right, Column)):
        raise Refused("a comparison of two literals")
    if left.kind != right.kind:
        raise Refused(f"a {left.kind} compared with a {right.kind} (Spark casts one)")
    if left.kind == "boolean" and op not in ("equal", "not_equal"):
        raise Refused("booleans are compared with = or != only")
    return Node(op, (left, right))


def where_mask(where: Where, arrays: Mapping[str, Any]) -> Any:
    """The rows ``where`` keeps, as a boolean array with NULL where Spark's condition is NULL;
    ``arrays``: each column of ``where.columns`` as read (plain strings, integers of any width)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def value(x: Column | Literal) -> Any:
        if isinstance(x, Literal):
            return pa.scalar(x.value, pa.int64() if x.kind == "integer" else None)
        arr = arrays[x.name]
        if pa.types.is_dictionary(arr.type):
            arr = arr.dictionary_decode()
        return arr.cast(pa.int64()) if x.kind == "integer" else arr.cast(pa.string()) if x.kind == "string" else arr

    def ev(node: Node) -> Any:
        if node.op == "and":
            return _fold(pc.and_kleene, [ev(a) for a in node.args])
        if node.op == "or":
            return _fold(pc.or_kleene, [ev(a) for a in node.args])
        if node.op == "not":
            return pc.invert(ev(node.args[0]))
        if node.op in ("is_null", "is_not_null"):
            nulls = pc.is_null(value(node.args[0]))
            return nulls if node.op == "is_null" else pc.invert(nulls)
        if node.op in ("in", "not_in"):
            column = value(node.args[0])
            found = pc.is_in(column, value_set=pa.array(node.args[1], column.type))
            found = pc.if_else(pc.is_null(column), pa.scalar(None, pa.bool_()), found)  # NULL IN (...) is NULL
            return found if node.op == "in" else pc.invert(found)
        left, right = node.args
        return getattr(pc, node.op)(value(left), value(right))

    return ev(where.tree)


def _fold(fn: Any, masks: Sequence[Any]) -> Any:
    out = masks[0]
    for m in masks[1:]:
        out = fn(out, m)
    return out
