"""Bounds on one GraphQL request, all checked before any resolver runs.

- Parsing stops after ``max_tokens`` lexical tokens (graphql-core's own parser limit).
- Then, before the specification's validation rules (some of which grow faster than the
  document: overlapping fields are compared in pairs, recursively), four cheap rules: field
  depth, aliases, fields repeated within one selection set, and the nesting of literal
  input values. Fragment cycles are refused here too, so that no later rule recurses
  through one.
- Then the specification's rules together with the cost rule (Ariadne's cost validator):
  every field counts one, a list field counts its ``limit`` times, and lists inside lists
  multiply. A list that returns everything unless given a limit (a run's events and compute
  logs) counts as :data:`PRESUMED_SIZES` items: ``runs(limit: 50) { events(limit: 10)
  { message } }`` costs 50 + 50 x 10 + 50 x 10 x 1, and with no events limit 50 x 1,000 and
  more, over the default maximum.

A request that breaks a bound is answered 400 with ``extensions.code`` QUERY_TOO_COMPLEX
(or BAD_INPUT for input values), naming the bound and its setting.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from ariadne.types import QueryValidator
from ariadne.validation.query_cost import CostValidator
from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    ListValueNode,
    Node,
    ObjectValueNode,
    SelectionSetNode,
    TypeInfo,
    ValidationContext,
    ValidationRule,
    parse,
    validate,
)
from graphql.language import SKIP, OperationDefinitionNode

from tether.settings import Settings

TOO_COMPLEX = "QUERY_TOO_COMPLEX"

# selection sets within each other, counting fragments and inline fragments: bounds the
# depth rule's own recursion (and every later rule's), whatever the field depth limit
_MAX_NESTING = 100

# how often one response name may be asked for within one selection set (through fragments
# too): the specification's OverlappingFieldsCanBeMerged compares those in pairs, and the
# pairs' sub-selections in pairs again, so repeated object fields cost their repeats squared
# to the power of their nesting (3 per level, 4 levels deep: 50 ms; 4 per level: 270 ms)
MAX_OBJECT_REPEATS = 2
MAX_LEAF_REPEATS = 10

# list fields and the argument that says how many items they return; the other fields cost 1
COST_MAP: dict[str, dict[str, Any]] = {
    "Query": {"runs": {"complexity": 1, "multipliers": ["limit"]}},
    "Automation": {"ticks": {"complexity": 1, "multipliers": ["limit"]}},
    "Run": {"events": {"complexity": 1, "multipliers": ["limit"]},
            "logs": {"complexity": 1, "multipliers": []}},
}
# list fields that return everything when not given a limit (a run's whole event log, all its
# compute-log chunks) count as this many items: asking for them on many runs at once is
# what makes a query expensive, whatever one run holds
PRESUMED_SIZES: dict[tuple[str, str], int] = {
    ("Run", "events"): 1_000,
    ("Run", "logs"): 1_000,
}


@dataclass(frozen=True, slots=True)
class QueryLimits:
    """The bounds, from the settings (``TETHER_GRAPHQL_MAX_*``, ``TETHER_MAX_INPUT_DEPTH``)."""

    max_tokens: int
    max_depth: int
    max_aliases: int
    max_cost: int
    max_input_depth: int

    @classmethod
    def from_settings(cls, settings: Settings) -> QueryLimits:
        return cls(max_tokens=settings.graphql_max_tokens,
                   max_depth=settings.graphql_max_depth,
                   max_aliases=settings.graphql_max_aliases,
                   max_cost=settings.graphql_max_cost,
                   max_input_depth=settings.max_input_depth)

    def parse(self, query: str) -> DocumentNode:
        """The request's document; a GraphQLError past ``max_tokens`` tokens."""
        try:
            return parse(query, max_tokens=self.max_tokens)
        except GraphQLError as exc:
            if f"more than {self.max_tokens} tokens" not in exc.message:
                raise
            raise _too_complex(f"the document has more than {self.max_tokens} tokens",
                               "TETHER_GRAPHQL_MAX_TOKENS") from None

    def first_rules(self) -> list[type[ASTValidationRule]]:
        """The cheap rules that run before the specification's."""
        limits = self

        class Depth(_DepthRule):
            max_depth = limits.max_depth

        class Aliases(_AliasRule):
            max_aliases = limits.max_aliases

        class InputDepth(_InputDepthRule):
            max_input_depth = limits.max_input_depth

        return [Depth, Aliases, _RepeatRule, InputDepth]

    def cost_rule(self, variables: dict[str, Any] | None) -> type[ASTValidationRule]:
        """Ariadne's cost validator with :data:`COST_MAP`; the request's ``variables`` give
        the limits passed as variables."""
        maximum = self.max_cost

        class Cost(CostValidator):
            def __init__(self, context: ValidationContext) -> None:
                super().__init__(context, maximum_cost=maximum, default_cost=1,
                                 variables=variables, cost_map=COST_MAP)

            def get_args_from_cost_map(self, node: Any, parent_type: str,
                                       field_args: dict[str, Any]) -> dict[str, Any] | None:
                args: dict[str, Any] | None = super().get_args_from_cost_map(
                    node, parent_type, field_args)
                presumed = PRESUMED_SIZES.get((parent_type, node.name.value))
                if args is not None and presumed and not args.get("multipliers"):
                    args["multipliers"] = [presumed]
                return args

            def get_cost_exceeded_error(self) -> GraphQLError:
                return _too_complex(
                    f"the query costs {self.cost}, more than the {maximum} a request may "
                    "(each field counts 1, a list field its limit: ask for fewer objects)",
                    "TETHER_GRAPHQL_MAX_COST")

        return Cost

    def validator(self) -> QueryValidator:
        """An Ariadne query validator that runs :meth:`first_rules` alone first, and the
        rules it is given only on a document that passed them."""
        first = self.first_rules()

        def validate_in_stages(schema: GraphQLSchema, document_ast: DocumentNode,
                               rules: Collection[type[ASTValidationRule]] | None = None,
                               max_errors: int | None = None,
                               type_info: TypeInfo | None = None) -> list[GraphQLError]:
            # type_info: Ariadne passes none to graphql-core 3.3, which takes none
            errors = validate(schema, document_ast, rules=first, max_errors=max_errors)
            if errors:
                return errors
            return validate(schema, document_ast, rules=rules, max_errors=max_errors)

        return validate_in_stages


def _too_complex(what: str, setting: str | None, code: str = TOO_COMPLEX) -> GraphQLError:
    bound = f" (the control plane's {setting})" if setting else ""
    return GraphQLError(f"{what}{bound}; the request was not run", extensions={"code": code})


class _TooDeep(Exception):
    pass


class _DepthRule(ValidationRule):
    """Fields within fields, through fragments; introspection's own depth is graphql-core's
    MaxIntrospectionDepthRule's to bound. A fragment's depth is measured once, however
    often it is spread."""

    max_depth = 0  # set by QueryLimits.first_rules

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        self._fragments: dict[str, int] = {}
        self._measuring: set[str] = set()

    def enter_operation_definition(self, node: OperationDefinitionNode, *_args: Any) -> Any:
        try:
            self._depth(node.selection_set, 1)
        except _TooDeep as exc:
            self.report_error(_too_complex(str(exc), "TETHER_GRAPHQL_MAX_DEPTH"))
        return SKIP

    def _depth(self, selection_set: SelectionSetNode, nesting: int) -> int:
        if nesting > _MAX_NESTING:
            raise _TooDeep(f"the query nests selections more than {_MAX_NESTING} deep")
        deepest = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                if selection.name.value.startswith("__"):
                    continue
                below = (self._depth(selection.selection_set, nesting + 1)
                         if selection.selection_set else 0)
                deepest = max(deepest, below + 1)
            elif isinstance(selection, InlineFragmentNode):
                deepest = max(deepest, self._depth(selection.selection_set, nesting + 1))
            elif isinstance(selection, FragmentSpreadNode):
                deepest = max(deepest, self._fragment(selection.name.value, nesting + 1))
        if deepest > self.max_depth:
            raise _TooDeep(f"the query nests fields more than {self.max_depth} deep")
        return deepest

    def _fragment(self, name: str, nesting: int) -> int:
        if name in self._fragments:
            return self._fragments[name]
        if name in self._measuring:
            raise _TooDeep(f"fragment {name} spreads itself")
        fragment = self.context.get_fragment(name)
        if fragment is None:
            return 0  # KnownFragmentNamesRule reports it
        self._measuring.add(name)
        depth = self._depth(fragment.selection_set, nesting)
        self._measuring.discard(name)
        self._fragments[name] = depth
        return depth


class _AliasRule(ValidationRule):
    """Aliases in the document: each one asks for a field once more."""

    max_aliases = 0  # set by QueryLimits.first_rules

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        self._count = 0

    def enter_field(self, node: FieldNode, *_args: Any) -> Any:
        if node.alias is None:
            return None
        self._count += 1
        if self._count == self.max_aliases + 1:
            self.report_error(_too_complex(
                f"the document has more than {self.max_aliases} aliases",
                "TETHER_GRAPHQL_MAX_ALIASES"))
        return None


class _RepeatRule(ValidationRule):
    """A response name asked for more than :data:`MAX_OBJECT_REPEATS` times (a field with a
    selection) or :data:`MAX_LEAF_REPEATS` times in one selection set, counting the fields
    its fragments bring (each fragment once, as the specification's rule does)."""

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        self._fragments: dict[str, dict[tuple[str, bool], int]] = {}
        self._collecting: set[str] = set()
        self._reported = False

    def enter_selection_set(self, node: SelectionSetNode, *_args: Any) -> Any:
        if self._reported:
            return SKIP
        for (name, has_selection), count in self._collect(node, set()).items():
            limit = MAX_OBJECT_REPEATS if has_selection else MAX_LEAF_REPEATS
            if count > limit:
                self._reported = True
                self.report_error(_too_complex(
                    f"{name} is asked for {count} times in one selection, more than the "
                    f"{limit} a request may; ask for it once", None))
                return SKIP
        return None

    def _collect(self, selection_set: SelectionSetNode, spread: set[str]
                 ) -> dict[tuple[str, bool], int]:
        counts: dict[tuple[str, bool], int] = {}
        for selection in selection_set.selections:
            found: dict[tuple[str, bool], int]
            if isinstance(selection, FieldNode):
                name = (selection.alias or selection.name).value
                found = {(name, selection.selection_set is not None): 1}
            elif isinstance(selection, InlineFragmentNode):
                found = self._collect(selection.selection_set, spread)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = selection.name.value
                if fragment in spread:
                    continue
                spread.add(fragment)
                found = self._fragment(fragment)
            else:
                continue
            for key, count in found.items():
                counts[key] = counts.get(key, 0) + count
        return counts

    def _fragment(self, name: str) -> dict[tuple[str, bool], int]:
        if name in self._fragments:
            return self._fragments[name]
        fragment = self.context.get_fragment(name)
        if fragment is None or name in self._collecting:
            return {}  # unknown (reported by the specification's rules) or a cycle (Depth)
        self._collecting.add(name)
        counts = self._collect(fragment.selection_set, set())
        self._collecting.discard(name)
        self._fragments[name] = counts
        return counts


class _InputDepthRule(ValidationRule):
    """Literal lists and objects within each other (a run config written in the query)."""

    max_input_depth = 0  # set by QueryLimits.first_rules

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        self._reported = False

    def enter_list_value(self, node: ListValueNode, _key: Any, _parent: Any, _path: Any,
                         ancestors: list[Node | Collection[Node]]) -> Any:
        return self._enter(ancestors)

    def enter_object_value(self, node: ObjectValueNode, _key: Any, _parent: Any, _path: Any,
                           ancestors: list[Node | Collection[Node]]) -> Any:
        return self._enter(ancestors)

    def _enter(self, ancestors: list[Node | Collection[Node]]) -> Any:
        # the subtree under a value too deep is skipped: ancestors stay this short
        depth = 1 + sum(isinstance(node, ListValueNode | ObjectValueNode) for node in ancestors)
        if depth <= self.max_input_depth:
            return None
        if self._reported:
            return SKIP
        self._reported = True
        self.report_error(_too_complex(
            f"an input value nests more than {self.max_input_depth} levels deep",
            "TETHER_MAX_INPUT_DEPTH", code="BAD_INPUT"))
        return SKIP
