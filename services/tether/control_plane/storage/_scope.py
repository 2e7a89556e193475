"""Deployment scoping, done once for every statement instead of in every query.

A store works in one deployment (:meth:`Store.scoped`): its connections carry the deployment
as an execution option, and before each statement runs, :func:`scope_statement` adds
``deployment = :deployment`` to every SELECT, UPDATE and DELETE for each table in its FROM
(through joins and aliases, and in every subquery) whose ``deployment`` column is a scoped one
(``_schema._deployment``; not the tokens' or the audit log's, which are global). New rows
get the connection's deployment from the column's default (``_schema._deployment``). So a
query written tomorrow is scoped without naming the deployment, and cannot leak another
deployment's rows by forgetting a filter: only statements on a connection without the
option (migrations, and tests reaching under the store) see every deployment.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql import Delete, Executable, Select, Update, visitors
from sqlalchemy.sql.selectable import Alias, FromClause, Join

from ._engine import SCOPE_OPTION
from ._schema import SCOPED


def install(engine: Engine) -> None:
    """Scope every statement run on ``engine`` through a connection that names a deployment."""
    event.listen(engine, "before_execute", _before_execute, retval=True)


def _before_execute(conn: Connection, statement: Any, multiparams: Any, params: Any,
                    execution_options: Any) -> tuple[Any, Any, Any]:
    deployment = execution_options.get(SCOPE_OPTION) or \
        conn.get_execution_options().get(SCOPE_OPTION)
    if deployment is not None and isinstance(statement, Executable) and \
            not isinstance(statement, sa.TextClause):
        statement = scope_statement(statement, deployment)
    return statement, multiparams, params


def scope_statement(statement: Any, deployment: str) -> Any:
    """``statement`` with every per-deployment table it reads, updates or deletes limited to
    ``deployment``'s rows.

    What to add depends only on the statement's shape, so it is worked out once per shape
    (keyed by SQLAlchemy's cache key, which leaves the bound values out) and remembered: a
    statement whose only scoped tables are in its own FROM (nearly all) gets one ``WHERE``
    added, which costs microseconds; one with a scoped table in a subquery is copied and
    scoped throughout."""
    key = statement._generate_cache_key()
    plan = None if key is None else _plans.get(key.key)
    if plan is None:
        plan = _plan(statement)
        if key is not None:
            if len(_plans) >= _MAX_PLANS:
                _plans.clear()
            _plans[key.key] = plan
    if plan.deep:
        return _scope_throughout(statement, deployment)
    if not plan.tables:
        return statement
    return statement.where(*(_criterion(table, deployment) for table in plan.tables))


@dataclass(frozen=True, slots=True)
class _Plan:
    # the scoped tables of the statement's own FROM (or the one it updates or deletes from)
    tables: tuple[FromClause, ...]
    # whether a subquery reads a scoped table too (then every SELECT in it is scoped)
    deep: bool


_plans: dict[Any, _Plan] = {}
# statement shapes remembered; the storage modules have a few hundred
_MAX_PLANS = 4096


def _plan(statement: Any) -> _Plan:
    if isinstance(statement, Select):
        tables = tuple(_scoped_tables(statement.get_final_froms()))
    elif isinstance(statement, Update | Delete):
        tables = tuple(_scoped_tables([statement.table]))
    else:
        tables = ()
    deep = any(isinstance(element, Select) and element is not statement
               and any(True for _ in _scoped_tables(element.get_final_froms()))
               for element in visitors.iterate(statement))
    if deep or tables:
        return _Plan(tables=tables, deep=deep)
    return _Plan(tables=(), deep=False)


def _scope_throughout(statement: Any, deployment: str) -> Any:
    def select(element: Select[Any]) -> None:
        criteria = tuple(_criterion(table, deployment)
                         for table in _scoped_tables(element.get_final_froms()))
        if criteria:
            element._where_criteria += criteria

    def update_or_delete(element: Update | Delete) -> None:
        criteria = tuple(_criterion(table, deployment)
                         for table in _scoped_tables([element.table]))
        if criteria:
            element._where_criteria += criteria

    return visitors.cloned_traverse(statement, {}, {
        "select": select, "update": update_or_delete, "delete": update_or_delete})


def _criterion(table: FromClause, deployment: str) -> sa.ColumnElement[bool]:
    return table.c.deployment == sa.bindparam(None, deployment, type_=sa.String(63),
                                              unique=True)


def _scoped_tables(froms: Any) -> Iterator[FromClause]:
    for table in _tables(froms):
        column = table.c.get("deployment")
        # an alias's column is a proxy: its info is the table's
        if column is not None and _scoped(column):
            yield table


def _scoped(column: sa.ColumnElement[Any]) -> bool:
    return any(base.info.get(SCOPED, False) for base in column.base_columns
               if isinstance(base, sa.Column))


def _tables(froms: Any) -> Iterator[FromClause]:
    """The tables (and aliases of tables) a FROM list names directly: through joins, not into
    subqueries (each subquery is a SELECT of its own, scoped where it stands)."""
    for item in froms:
        if isinstance(item, Join):
            yield from _tables([item.left, item.right])
        elif isinstance(item, sa.Table) or (isinstance(item, Alias)
                                            and isinstance(item.element, sa.Table)):
            yield item
