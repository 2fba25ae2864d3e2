"""PFL203 query-in-loop, and its codemod (``executemany``)."""

from __future__ import annotations

import ast
import re

import libcst as cst

from perf_lsp.analysis import catalogs
from perf_lsp.analysis.bindings import (
    bound_names,
    dotted_refs,
    local_binding_index,
    paths_overlap,
    referenced_names,
    target_names,
)
from perf_lsp.analysis.expressions import is_constant_string
from perf_lsp.analysis.loops import in_handler, is_batch, last_word, loop_detail, loop_sleeps, loop_targets, statement_effects, varying_loop
from perf_lsp.analysis.receivers import TypeCatalog, resolver
from perf_lsp.analysis.tree import FUNCTION_BOUNDARIES, SCOPES, dotted, walk
from perf_lsp.fix.codemod import replace_nodes
from perf_lsp.fix.context import FixContext
from perf_lsp.model import Applicability
from perf_lsp.rules.base import Rule, RuleContext, short_code

def _driver_catalog() -> TypeCatalog:
    """The ``[[driver]]`` and ``[[kind]]`` entries of the ``databases`` catalog as one :class:`TypeCatalog`."""
    constructors: dict[str, str] = {}
    annotations: dict[str, str] = {}
    methods: dict[tuple[str, str], str] = {}
    attributes: dict[tuple[str, str], str] = {}
    calls: dict[str, str] = {}
    for entry in catalogs.entries("databases", "driver"):
        constructors.update(entry.get("constructors", {}))
        annotations.update(entry.get("annotations", {}))
        methods.update({(owner, method): result for owner, method, result in entry.get("methods", ())})
        attributes.update({(owner, attr): result for owner, attr, result in entry.get("attributes", ())})
        calls.update({owner: result for owner, result in entry.get("calls", ())})
    for kind in catalogs.entries("databases", "kind"):
        methods.update({(kind["name"], method): result for method, result in kind.get("methods", ())})
    return TypeCatalog(constructors, annotations, methods=methods, attributes=attributes, calls=calls)


_SQLITE_CATALOG = TypeCatalog(
    constructors={qn: "sqlite" for e in catalogs.entries("databases", "sqlite") for qn in e["constructors"]},
    annotations={qn: "sqlite" for e in catalogs.entries("databases", "sqlite") for qn in e["annotations"]},
)
DB_CATALOG = _driver_catalog()
"""Database handles: DB-API connections and cursors, asyncpg, SQLAlchemy, ChromaDB collections; from the
``databases`` catalog (``perf_lsp/catalogs/databases.toml``)."""

ROUND_TRIPS: dict[str, frozenset[str]] = {
    kind["name"]: frozenset(kind["round_trips"]) for kind in catalogs.entries("databases", "kind")
}
"""Per receiver type, the methods that make one database round trip."""

_BULK: dict[tuple[str, str], str] = {
    (kind["name"], method): bulk for kind in catalogs.entries("databases", "kind") for method, bulk in kind.get("bulk", {}).items()
}
"""(receiver type, per-item method) -> the bulk form the message suggests."""
_DISTINCTIVE: dict[str, list[tuple[str, frozenset[str], str | None]]] = {}
for _kind in catalogs.entries("databases", "kind"):
    for _method in _kind.get("distinctive", ()):
        _DISTINCTIVE.setdefault(_method, []).append(
            (_kind["name"], frozenset(_kind.get("imports", ())), _kind.get("receiver_attribute"))
        )
"""Methods only one driver's API has (``insert_one``, Django's ``Model.objects.get``): method -> (receiver
type, the packages whose import lets an unresolved receiver count as that type, the attribute the
receiver must end with or None)."""
_ITEM_METHODS: dict[str, tuple[str, frozenset[str]]] = {
    method: (kind["name"], frozenset(kind.get("imports", ())))
    for kind in catalogs.entries("databases", "kind")
    for method in kind.get("item_methods", ())
}
"""Methods called without arguments on the loop's item that write it (Django's ``obj.save()``)."""
_IN_PROCESS_KINDS = frozenset(kind["name"] for kind in catalogs.entries("databases", "kind") if kind.get("in_process"))
_IN_PROCESS_ROOTS = frozenset(
    qn.split(".", 1)[0]
    for entry in catalogs.entries("databases", "driver")
    for qn, kind in entry.get("constructors", {}).items()
    if kind in _IN_PROCESS_KINDS
)
"""Packages of in-process databases (``sqlite3``): a query is a function call, not a network round trip."""

_ALL_METHODS = frozenset().union(*ROUND_TRIPS.values())
_ROWS_WORDS = ("rows", "records", "batch", "chunk", "mappings", "entries")
"""What the parameters of ``execute(sql, params)`` are called when they hold many rows (``executemany``)."""
_CATALOG_ROOTS = frozenset(
    qn.split(".", 1)[0]
    for qn in (*DB_CATALOG.constructors, *DB_CATALOG.annotations, *(prefix for prefix, _, _ in DB_CATALOG.prefixes))
)
"""The packages whose imports can give a receiver one of the catalog's types."""
_WANTED_METHODS = _ALL_METHODS | frozenset(_DISTINCTIVE) | frozenset(_ITEM_METHODS)
"""What the prefilter looks for in a loop: a round trip of the catalog, a driver's own method, an item's write."""
_CATALOG_ROOTS |= frozenset(p for entries in _DISTINCTIVE.values() for _, packages, _ in entries for p in packages)
_CATALOG_ROOTS |= frozenset(p for _, packages in _ITEM_METHODS.values() for p in packages)
_HANDLE_NAMES = frozenset({"cursor", "cur", "session", "db", "conn", "connection", "db_session", "dbsession"})
_SQL_WORDS = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE", "REPLACE", "WITH", "UPSERT", "MERGE"})
_NAMED_SQL_WORDS = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE"})
"""What a receiver known only by its name must run: the SQL statements no other query language starts with."""
_DML = frozenset({"INSERT", "UPDATE", "DELETE", "REPLACE"})
_SQLALCHEMY_BUILDERS = frozenset({"select", "insert", "update", "delete", "text"})
_FIRST_WORD = re.compile(r"\s*\(*\s*([A-Za-z]+)")
_PAGINATION = re.compile(r"\bOFFSET\b", re.I)
_TOP_K = re.compile(r"\bORDER\s+BY\b.*\b(?:LIMIT|FETCH\s+(?:FIRST|NEXT)|TOP)\b", re.I | re.S)
_SYSTEM_CATALOG = re.compile(
    r"\b(?:FROM|JOIN)\s+(?:information_schema\s*\.|pg_catalog\s*\.|pg_[a-z_]+\b|sqlite_(?:master|schema|temp_master)\b|"
    r"duckdb_[a-z_]+\s*\(|sys\s*\.|mysql\s*\.|all_(?:tables|indexes|tab_columns)\b|user_(?:tables|indexes)\b)",
    re.I,
)
"""System catalogs (``information_schema``, ``pg_catalog``, ``sqlite_master``, ``duckdb_functions()``...)."""
_IDENTIFIER_FIELD = re.compile(r"\b(?:FROM|INTO|UPDATE|TABLE|JOIN)\s+[`\"\[]?\{", re.I)


class QueryInLoop(Rule):
    """
    ## What it does
    Reports a database or vector-store round trip made once per iteration of a
    ``for`` loop or a comprehension, with arguments that change per item (the N+1
    pattern): ``cursor.execute``, ``conn.execute``, SQLAlchemy
    ``session.execute/scalar(s)/get`` and ``session.query(...).first()/all()/...``,
    asyncpg ``conn.fetch/fetchrow/fetchval/execute``, MongoDB (pymongo, motor)
    ``insert_one``/``update_one``/``replace_one``/``delete_one``/``find_one``,
    Django ``Model.objects.get/create/get_or_create/update_or_create`` and
    ``obj.save()``/``obj.delete()`` on the loop's item (in a module that imports
    Django), Neo4j ``session.run``/``driver.execute_query``, and the vector stores' reads
    and writes: ChromaDB ``collection.query/get/add/upsert/update/delete``, Qdrant
    ``upsert``/``retrieve``/``search``/``query_points``/``delete``, Pinecone
    ``index.upsert/fetch/delete/update``, Weaviate ``collection.data.insert``...,
    Milvus ``insert``/``upsert``/``get``/``delete``/``search``, and LlamaIndex
    document and key-value stores (``get_document_hash``, ``set_document_hash``,
    ``add_documents([node])``, ``put``...). The message names the
    bulk form (``insert_many``, ``bulk_write``, one ``upsert`` with all points...).

    The receiver must be a database handle: built by ``psycopg``/``psycopg2``/
    ``pymysql``/... ``connect(...)`` (and its ``cursor()``), a SQLAlchemy
    ``Session``/``sessionmaker``/engine connection, an asyncpg connection or pool, a
    MongoDB, Neo4j, Qdrant, Pinecone, Weaviate or Milvus client and what it hands
    out, a ChromaDB collection from ``get_collection``/``get_or_create_collection``/
    ``create_collection``; or annotated as one (``Session``, ``AsyncSession``,
    ``asyncpg.Connection``, ``pymongo.collection.Collection``...). The drivers and
    their methods are the ``databases`` catalog (``perf_lsp/catalogs/databases.toml``).
    A receiver named ``cursor``/``cur``/``session``/``db``/``conn`` counts when
    its ``execute`` gets SQL text that starts with ``SELECT``/``INSERT``/
    ``UPDATE``/``DELETE``; a receiver whose type is unknown counts for MongoDB's own
    method names (``insert_one``...) in a module that imports ``pymongo`` or ``motor``.

    Not reported: Django management commands (a method of ``class
    Command(BaseCommand)``: a backfill run by hand); in-process SQLite (``sqlite3``, ``aiosqlite``, and a named
    ``cursor`` in a module whose only database is SQLite): a query there is a
    function call, not a network round trip; DDL and maintenance statements (``CREATE``/``DROP``/``ALTER``/
    ``TRUNCATE``/``VACUUM``... over a list of tables), statements that are
    themselves the loop's items (migrations, replayed scripts), pagination with
    ``OFFSET``, ``while`` loops (cursor pagination, consumers), loops over batches
    (``batched(...)``, ``batch``), loops that sleep between queries, a receiver
    that changes per item (one query per collection or shard: parallelise those
    instead), ``executemany`` and queries whose arguments do not change; queries
    of system catalogs (``information_schema``, ``pg_catalog``, ``sqlite_master``,
    ``duckdb_functions()``: schema introspection at set-up); and a query in one
    branch of an ``if``/``elif`` chain that dispatches on a per-item value
    (``if op["action"] == "add": ... elif op["action"] == "remove": ...``): a list of
    different operations applied in order, not one query over a list of keys. Nor
    calls that already send many rows: ``execute(statement, rows)`` (a list of
    parameter sets, run as ``executemany``), and an argument that is a slice
    (``points[i:i + step]`` in a ``range(0, n, step)`` loop); the per-item loop in an
    ``except`` block whose ``try`` called the same receiver (the fallback after the
    batched call failed); and ``INSERT ... RETURNING`` whose result the next
    statement of the same item uses (a parent row and its children, in order); a loop
    over ``range(0, n, step)``; and a bulk API given a batch (``index.delete(ids=batch_ids)``).

    ## Why is this bad?
    Each iteration waits for a full round trip to the database (network, parse,
    plan, execute): N items cost N queries where one ``IN (...)`` query, one bulk
    insert or one ``executemany`` does the work. Django's and SQLAlchemy's
    documentation both recommend fetching related rows in one query and writing
    in bulk. Even with no network (``sqlite3`` on a local file,
    ``benchmarks/bench_costs.py``, ``docs/costs.md``), 200 ``SELECT``s by id take
    about 9x one ``IN (...)`` query and 200 ``INSERT``s about 1.7x one
    ``executemany``; a network database adds one round trip per query to that.

    ## Example
    ```python
    def load_users(cur, ids):
        users = []
        for user_id in ids:
            cur.execute("SELECT id, name FROM users WHERE id = %s", (user_id,))
            users.append(cur.fetchone())
        return users
    ```

    ## Use instead
    ```python
    def load_users(cur, ids):
        cur.execute("SELECT id, name FROM users WHERE id = ANY(%s)", (list(ids),))
        return cur.fetchall()
    ```

    SQLAlchemy: ``session.scalars(select(User).where(User.id.in_(ids)))``;
    ChromaDB: ``collection.get(ids=ids)`` or one ``query`` with several
    ``query_texts``; asyncpg: ``conn.fetch("... WHERE id = ANY($1)", ids)``; writes:
    ``executemany`` or a multi-row ``INSERT``.

    ## Fix safety
    Safe, offered only for the mechanical case: a ``for`` loop whose whole body is
    ``cursor.execute(SQL, params)`` on a DB-API cursor (or ``sqlite3``
    connection) with a constant ``INSERT``/``UPDATE``/``DELETE``/``REPLACE``
    statement becomes ``cursor.executemany(SQL, [params for item in items])``.
    PEP 249 defines ``executemany`` as the statement executed once per parameter
    set, so the same rows are written in the same order. The fix is declined when
    the function reads the cursor's ``rowcount`` or ``lastrowid`` (``executemany``
    reports them differently: a total, or not updated), when the parameters call
    anything (their evaluation now happens before the first statement runs), when
    the loop variable is used after the loop, and for ``async for``, loops with
    ``else:`` and awaited calls. If computing a parameter raises (a missing key),
    the loop had run the statements for the earlier items and the fix runs none.

    ## References
    - [Django: Database access optimization](https://docs.djangoproject.com/en/stable/topics/db/optimization/)
    - [SQLAlchemy: ORM bulk INSERT statements](https://docs.sqlalchemy.org/en/20/orm/queryguide/dml.html#orm-bulk-insert-statements)
    - [Python: sqlite3 Cursor.executemany](https://docs.python.org/3/library/sqlite3.html#sqlite3.Cursor.executemany)
    - [PyMongo: Collection.insert_many and bulk_write](https://pymongo.readthedocs.io/en/stable/api/pymongo/collection.html)
    - [Qdrant: upload points in batches](https://qdrant.tech/documentation/concepts/points/#upload-points)
    - Measured figures: `docs/costs.md`, made by `benchmarks/bench_costs.py`
    """

    code = "PFL203"
    name = "query-in-loop"
    message = "Database query run once per loop iteration; fetch or write all items in one query"
    fix_title = "Run the statement once with executemany"
    fix_safety = Applicability.SAFE
    triggers = r"\.(?:" + "|".join(sorted(_ALL_METHODS | set(_ITEM_METHODS))) + r")\s*\("

    @classmethod
    def applies_to(cls, text, module_ctx, settings) -> bool:
        if "alembic" in module_ctx.import_roots:
            return False  # a migration script runs once
        return super().applies_to(text, module_ctx, settings)

    @classmethod
    def wants(cls, summary, settings) -> bool:
        """A call of a round-trip method (``_WANTED_METHODS``) in a loop, and either an import of a database
        package (the receivers' types come only from the catalog, through imports) or the call is
        ``<handle name>.execute(...)`` (a receiver known by its name)."""
        if not summary.own.has_loops:
            return False
        catalog = bool(summary.module_ctx.import_roots & _CATALOG_ROOTS) or any(
            qn.split(".", 1)[0] in _CATALOG_ROOTS for qn in summary.local_imports.values()
        )
        if not catalog and not summary.may_contain("execute"):
            return False  # without the catalog only ``<handle name>.execute(...)`` can be reported
        for call, _ in summary.own.calls_in_loops:
            func = call.func
            if type(func) is not ast.Attribute or func.attr not in _WANTED_METHODS:
                continue
            if catalog:
                return True
            if func.attr == "execute":
                handle = func.value
                if type(handle) is ast.Attribute and type(handle.value) is ast.Name and handle.value.id == "self":
                    word = handle.attr
                elif type(handle) is ast.Name:
                    word = handle.id
                else:
                    continue
                if word.strip("_").lower() in _HANDLE_NAMES:
                    return True
        return False

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self._resolver = resolver(ctx, DB_CATALOG)

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value in _ITEM_METHODS and not node.args:
            self._item_write(node, func)
            return
        if not (isinstance(func, cst.Attribute) and func.attr.value in _ALL_METHODS):
            return
        innermost = self.ctx.repeating_loop(node)
        if innermost is None or any(a.star for a in node.args):
            return
        root, chain_args = _chain(node)
        loop = varying_loop(self.ctx, innermost, chain_args)
        if loop is None:
            return
        varying = _per_iteration_names(self.ctx, loop, innermost)
        if referenced_names(root) & varying:
            return  # a different handle per item (one query per collection, shard, database)
        method = func.attr.value
        tags = self._resolver.tags(func.value, node)
        kind = next((t for t in tags if method in ROUND_TRIPS.get(t, ())), None)
        statement = _statement_arg(node) if method in {"execute", "exec", "scalar", "scalars", "fetch", "fetchrow", "fetchval"} else None
        sql = _sql_text(self.ctx, statement, node) if statement is not None else None
        if kind is None and not tags and method in _DISTINCTIVE:
            for distinct_kind, packages, attribute in _DISTINCTIVE[method]:
                if attribute is not None and not (isinstance(func.value, cst.Attribute) and func.value.attr.value == attribute):
                    continue
                if self.ctx.module_ctx.import_roots & packages:
                    kind = distinct_kind  # ``coll.insert_one(doc)`` in a module that imports pymongo
                    break
        if kind is None:
            if tags or method != "execute" or not self._named_handle(func.value, node):
                return
            if sql is None or _first_word(sql) not in _NAMED_SQL_WORDS:
                return
            if self._in_process_only():
                return  # the only database the module imports runs in this process (sqlite3)
            kind = "named"
        if statement is not None and not self._statement_ok(statement, sql, varying):
            return
        if kind == "chroma_collection" and not node.args:
            return
        if any(a.keyword is not None and a.keyword.value == "offset" for a in node.args):
            return  # pagination
        if loop_sleeps(self.ctx, loop) or in_handler(self.ctx, node, loop) or self.ctx.memo(_grows_own_iterable, loop):
            return
        if _in_dispatch_branch(self.ctx, node, loop, varying):
            return  # a command interpreter: each item is a different operation, applied in order
        if _in_management_command(self.ctx, node):
            return  # a Django management command: a one-off job an administrator runs
        if _sends_rows(node, statement) or _sends_slice(node) or _steps_through(loop):
            return  # already a bulk call: ``execute(sql, rows)`` (executemany), or one slice per iteration
        if (kind, method) in _BULK and any(is_batch(a.value) for a in node.args):
            return  # a bulk API given several items (``index.delete(ids=batch_ids)``)
        if _fallback_after_batch(self.ctx, node, loop):
            return  # the per-item path of an ``except`` taken after the batched call failed
        if _returning_feeds_next(self.ctx, node, loop, sql):
            return  # ``INSERT ... RETURNING id``, and the next statement of the item uses that id
        fix = None
        if method == "execute" and kind in {"dbapi_cursor", "dbapi_conn", "named"} and loop is innermost:
            fix = self._plan_executemany(node, loop, sql, kind)
        bulk = _BULK.get((kind, method))
        if bulk is not None:
            instead = f"`{bulk}`" if bulk.isidentifier() else bulk
            message = f"`{short_code(self.ctx.code(func))}` runs one round trip per item; send all items at once ({instead})"
        else:
            message = (
                f"`{short_code(self.ctx.code(func))}` runs one database round trip per item; "
                "query or write all items at once (IN/ANY, bulk insert, executemany)"
            )
        self.report(
            node,
            message=message,
            fix=fix,
            detail=f"{loop_detail(loop)}: one round trip per item, N queries instead of 1.",
        )

    # -- detection -------------------------------------------------------
    def _named_handle(self, expr: cst.BaseExpression, at: cst.CSTNode) -> bool:
        """``cursor``/``cur``/``session``/``db``/``conn`` (or ``self.<that>``) not bound to something else."""
        if isinstance(expr, cst.Attribute):
            word = expr.attr.value
            if not (isinstance(expr.value, cst.Name) and expr.value.value == "self"):
                return False
        elif isinstance(expr, cst.Name):
            word = expr.value
            if self.ctx.resolve_dotted(word) is not None:
                return False
        else:
            return False
        return word.strip("_").lower() in _HANDLE_NAMES

    def _item_write(self, node: cst.Call, func: cst.Attribute) -> None:
        """``for obj in objs: obj.save()`` in a module that imports Django: one write per item."""
        kind, packages = _ITEM_METHODS[func.attr.value]
        if not self.ctx.module_ctx.import_roots & packages or not isinstance(func.value, cst.Name):
            return
        loop = self.ctx.repeating_loop(node)
        if not isinstance(loop, cst.For) or func.value.value not in (target_names(loop.target) or set()):
            return
        if loop_sleeps(self.ctx, loop) or in_handler(self.ctx, node, loop) or _fallback_after_batch(self.ctx, node, loop):
            return
        if _in_dispatch_branch(self.ctx, node, loop, target_names(loop.target) or set()):
            return
        if _in_management_command(self.ctx, node):
            return
        bulk = _BULK.get((kind, func.attr.value), "a bulk write")
        self.report(
            node,
            message=f"`{short_code(self.ctx.code(func))}` runs one round trip per item; write all items at once ({bulk})",
            detail=f"{loop_detail(loop)}: one round trip per item, N queries instead of 1.",
        )

    def _in_process_only(self) -> bool:
        """The module imports database packages, and all of them run in this process (``sqlite3``)."""
        roots = self.ctx.module_ctx.import_roots & _CATALOG_ROOTS
        return bool(roots) and roots <= _IN_PROCESS_ROOTS

    def _statement_ok(self, statement: cst.BaseExpression, sql: str | None, varying: set[str]) -> bool:
        """Not DDL, not paginated, and not a statement that is itself the loop's item."""
        if sql is not None:
            word = _first_word(sql)
            if word not in _SQL_WORDS or _PAGINATION.search(sql) or _TOP_K.search(sql):
                return False  # DDL, pagination, or a top-k per item
            if _SYSTEM_CATALOG.search(sql):
                return False  # schema introspection: set-up over a few schema objects, not data per item
            if _IDENTIFIER_FIELD.search(sql) and referenced_names(statement) & varying:
                return False  # the table changes per item: maintenance over several tables
            return True
        if not referenced_names(statement) & varying:
            return True  # a fixed statement, parameters per item
        return self._sqlalchemy_builder(statement)

    def _sqlalchemy_builder(self, expr: cst.BaseExpression) -> bool:
        """``select(User).where(User.id == uid)`` and the like: a query object built per item."""
        while isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute):
            expr = expr.func.value
        if not isinstance(expr, cst.Call):
            return False
        qn = self.ctx.qualified_name(expr.func) or ""
        head, _, name = qn.rpartition(".")
        return head.split(".", 1)[0] in {"sqlalchemy", "sqlmodel"} and name in _SQLALCHEMY_BUILDERS

    # -- the fix ---------------------------------------------------------
    def _plan_executemany(self, call: cst.Call, loop: cst.CSTNode, sql: str | None, kind: str):
        if not isinstance(loop, cst.For) or loop.asynchronous is not None or loop.orelse is not None:
            return None
        if sql is None or _first_word(sql) not in _DML:
            return None
        receiver = call.func.value
        if kind == "named" and not (isinstance(receiver, cst.Name) and receiver.value in {"cursor", "cur"}):
            return None
        if kind == "dbapi_conn" and not self._sqlite_connection(receiver, call):
            return None
        positional = [a for a in call.args if a.keyword is None]
        if len(call.args) != 2 or len(positional) != 2 or not is_constant_string(positional[0].value):
            return None
        params = positional[1].value
        body = loop.body
        lines = list(body.body) if isinstance(body, cst.IndentedBlock) else [body]
        if len(lines) != 1:
            return None
        line = lines[0]
        if not isinstance(line, (cst.SimpleStatementLine, cst.SimpleStatementSuite)) or len(line.body) != 1:
            return None
        small = line.body[0]
        if not (isinstance(small, cst.Expr) and small.value is call):
            return None
        targets = target_names(loop.target)
        if targets is None or not _plain_value(params) or referenced_names(receiver) & targets:
            return None
        scope = self.ctx.enclosing_function(loop)
        holder = scope.body if scope is not None else self.ctx.module
        if referenced_names(holder, skip=loop) & targets or self._reads_counters(holder, receiver):
            return None

        def build(fctx: FixContext) -> cst.Module | None:
            if isinstance(params, cst.Name) and isinstance(loop.target, cst.Name) and params.value == loop.target.value:
                seq: cst.BaseExpression = loop.iter
            else:
                seq = cst.ListComp(elt=params, for_in=cst.CompFor(target=loop.target, iter=loop.iter))
            args = [call.args[0], call.args[1].with_changes(value=seq)]
            new_call = call.with_changes(func=call.func.with_changes(attr=cst.Name("executemany")), args=args)
            new_line = line.with_changes(body=[small.with_changes(value=new_call)])
            if isinstance(line, cst.SimpleStatementSuite):
                new_line = cst.SimpleStatementLine(body=[small.with_changes(value=new_call)])
            new_line = new_line.with_changes(leading_lines=[*loop.leading_lines, *getattr(line, "leading_lines", [])])
            return replace_nodes(fctx.chunk, {loop: new_line})

        return build

    def _sqlite_connection(self, receiver: cst.BaseExpression, at: cst.CSTNode) -> bool:
        """Only ``sqlite3`` connections have ``executemany`` among the connection objects."""
        return resolver(self.ctx, _SQLITE_CATALOG).tags(receiver, at) == {"sqlite"}

    def _reads_counters(self, holder: cst.CSTNode, receiver: cst.BaseExpression) -> bool:
        code = self.ctx.code(receiver)
        for node in walk(holder, stop=FUNCTION_BOUNDARIES):
            if isinstance(node, cst.Attribute) and node.attr.value in {"rowcount", "lastrowid"}:
                if dotted(node.value) == code:
                    return True
        return False


# -- helpers -------------------------------------------------------------------
def _chain(call: cst.Call) -> tuple[cst.BaseExpression, list[cst.CSTNode]]:
    """The root receiver of a method chain and the arguments of every call in it.

    ``session.query(User).filter(User.id == uid).first()`` -> (``session``, [``User``, ``User.id == uid``]).
    """
    args: list[cst.CSTNode] = []
    expr: cst.BaseExpression = call
    while True:
        if isinstance(expr, cst.Call):
            args.extend(a.value for a in expr.args)
            expr = expr.func
        elif isinstance(expr, cst.Attribute) and isinstance(expr.value, (cst.Call, cst.Attribute)):
            expr = expr.value
        elif isinstance(expr, cst.Attribute):
            return expr.value, args
        else:
            return expr, args


def _per_iteration_names(ctx: RuleContext, loop: cst.CSTNode, innermost: cst.CSTNode) -> set[str]:
    """Names that change from one iteration of ``loop`` (or a loop inside it, up to ``innermost``) to the next."""

    names: set[str] = set()
    current: cst.CSTNode | None = innermost
    while current is not None:
        targets, _ = ctx.memo(loop_targets, current)
        names |= targets
        if isinstance(current, (cst.For, cst.While)):
            names |= ctx.memo(bound_names, current.body)
        if current is loop:
            break
        current = ctx.repeating_loop(current)
    return names


def _statement_arg(call: cst.Call) -> cst.BaseExpression | None:
    for arg in call.args:
        if arg.keyword is None:
            return arg.value
        if arg.keyword.value in {"statement", "query", "sql", "operation", "stmt"}:
            return arg.value
    return None


def _literal_text(expr: cst.BaseExpression) -> str | None:
    """The literal text of a string, f-string (fields dropped), concatenation, ``"...".format(...)`` or
    ``"..." % x``."""
    if isinstance(expr, cst.SimpleString):
        value = expr.evaluated_value
        return value if isinstance(value, str) else None
    if isinstance(expr, cst.FormattedString):
        return "".join(p.value if isinstance(p, cst.FormattedStringText) else "{?}" for p in expr.parts)
    if isinstance(expr, cst.ConcatenatedString):
        left, right = _literal_text(expr.left), _literal_text(expr.right)
        return left + right if left is not None and right is not None else None
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Modulo):
        return _literal_text(expr.left)
    if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) and expr.func.attr.value == "format":
        return _literal_text(expr.func.value)
    return None


def _sql_text(ctx: RuleContext, expr: cst.BaseExpression, at: cst.CSTNode) -> str | None:
    """The SQL text a statement argument holds, when it can be read: a literal, ``text("...")``, or a local
    or module-level name whose every assignment is one."""
    text = _literal_text(expr)
    if text is not None:
        return text
    if isinstance(expr, cst.Call) and len(expr.args) >= 1:
        qn = ctx.qualified_name(expr.func) or ""
        if qn.split(".", 1)[0] in {"sqlalchemy", "sqlmodel"} and qn.endswith(".text"):
            return _literal_text(expr.args[0].value)
    if isinstance(expr, cst.Name):
        func = ctx.enclosing_function(at)
        found = ctx.memo(local_binding_index, func, True).get(expr.value) if func is not None else None
        if found is None:
            return None
        texts = [_literal_text(v) if kind == "value" and isinstance(v, cst.BaseExpression) else None for kind, v in found]
        if texts and all(t is not None for t in texts) and len({_first_word(t) for t in texts}) == 1:
            return texts[0]
    return None


def _first_word(sql: str) -> str:
    match = _FIRST_WORD.match(sql)
    return match.group(1).upper() if match else ""


def _plain_value(expr: cst.BaseExpression) -> bool:
    """Names, attributes, subscripts, literals and tuple/list/dict displays of them: no calls."""
    for node in [expr, *walk(expr)]:
        if isinstance(node, (cst.Call, cst.Await, cst.Yield, cst.NamedExpr, cst.Lambda, *(SCOPES))):
            return False
    return True


def _sends_rows(call: cst.Call, statement: cst.BaseExpression | None) -> bool:
    """``execute(sql, rows)``: the parameters are a list of rows (a list display of several, a comprehension,
    or a name such as ``rows``/``records``/``batch``): the driver runs it as ``executemany``."""
    if statement is None:
        return False
    positional = [a for a in call.args if a.keyword is None]
    params = positional[1].value if len(positional) >= 2 and positional[0].value is statement else None
    if params is None:
        params = next((a.value for a in call.args if a.keyword is not None and a.keyword.value in {"parameters", "params", "args"}), None)
    if params is None:
        return False
    if isinstance(params, (cst.ListComp, cst.GeneratorExp)):
        return True
    if isinstance(params, cst.List) and len(params.elements) > 1:
        # rows (``[(a, b), (c, d)]``, ``[{...}, {...}]``), not one row's values (``[id, text]``)
        return all(isinstance(e.value, (cst.Tuple, cst.List, cst.Dict)) for e in params.elements)
    while isinstance(params, cst.Subscript):
        params = params.value  # ``rows_by_table[name]``
    word = last_word(params)
    return word is not None and any(w in word.lower() for w in _ROWS_WORDS)


def _sends_slice(call: cst.Call) -> bool:
    """An argument (or an element of a display passed as one) is a slice ``items[i:i + step]``: each
    iteration of a ``range(0, n, step)`` loop already sends a batch."""
    for arg in call.args:
        values = [arg.value]
        if isinstance(arg.value, (cst.List, cst.Tuple)):
            values += [e.value for e in arg.value.elements]
        elif isinstance(arg.value, cst.Dict):
            values += [e.value for e in arg.value.elements if isinstance(e, cst.DictElement)]
        for value in values:
            if isinstance(value, cst.Subscript) and any(isinstance(e.slice, cst.Slice) for e in value.slice):
                return True
    return False


def _in_management_command(ctx: RuleContext, node: cst.CSTNode) -> bool:
    """``node`` is in a method of a Django management command (``class Command(BaseCommand)``): a
    backfill or maintenance job run by hand, not per request."""
    for anc in ctx.ancestors(node):
        if isinstance(anc, cst.ClassDef):
            return any((dotted(base.value) or "").rsplit(".", 1)[-1] == "BaseCommand" for base in anc.bases)
    return False


def _steps_through(loop: cst.CSTNode) -> bool:
    """``for start in range(0, n, step)``: a loop over batch offsets, each iteration one batch."""
    if not isinstance(loop, cst.For) or not isinstance(loop.iter, cst.Call):
        return False
    return dotted(loop.iter.func) == "range" and len(loop.iter.args) == 3


def _fallback_after_batch(ctx: RuleContext, call: cst.Call, loop: cst.CSTNode) -> bool:
    """The loop runs in an ``except`` block whose ``try`` made a call on the same receiver (the batched
    call): ``try: coll.insert_many(docs) except BulkWriteError: for d in docs: coll.insert_one(d)``."""
    receiver = ctx.code(call.func.value) if isinstance(call.func, cst.Attribute) else None
    if receiver is None:
        return False
    for anc in ctx.ancestors(loop):
        if isinstance(anc, FUNCTION_BOUNDARIES):
            return False
        if isinstance(anc, (cst.ExceptHandler, cst.ExceptStarHandler)):
            owner = ctx.parent(anc)
            if isinstance(owner, (cst.Try, cst.TryStar)):
                for node in walk(owner.body, stop=SCOPES):
                    if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and ctx.code(node.func.value) == receiver:
                        return True
    return False


_RETURNING = re.compile(r"\bRETURNING\b", re.I)


def _returning_feeds_next(ctx: RuleContext, call: cst.Call, loop: cst.CSTNode, sql: str | None) -> bool:
    """``row = conn.fetchrow("INSERT ... RETURNING id", ...)`` whose result a later round trip of the same
    iteration uses (``conn.execute("INSERT INTO child ...", row["id"])``): a parent and its children
    written in order, one dependent pair per item."""
    if sql is None or not _RETURNING.search(sql):
        return False
    statement = None
    for anc in ctx.ancestors(call):
        if anc is loop:
            break
        if isinstance(anc, (cst.Assign, cst.AnnAssign)):
            statement = anc
            break
    if statement is None:
        return False
    targets = statement.targets if isinstance(statement, cst.Assign) else [cst.AssignTarget(target=statement.target)]
    names: set[str] = set()
    for t in targets:
        names |= target_names(t.target) or set()
    if not names:
        return False
    body = loop.body if isinstance(loop, (cst.For, cst.While)) else None
    if body is None:
        return False
    seen = False
    for node in walk(body, stop=SCOPES):
        if node is statement:
            seen = True
            continue
        if seen and isinstance(node, cst.Call) and node is not call and isinstance(node.func, cst.Attribute):
            same_handle = ctx.code(node.func.value) == ctx.code(call.func.value)
            if (same_handle or node.func.attr.value in _ALL_METHODS) and any(referenced_names(a.value) & names for a in node.args):
                return True
    return False


def _grows_own_iterable(loop: cst.CSTNode) -> bool:
    """A ``for`` loop that appends to (or otherwise changes) the list it iterates: a traversal
    (breadth-first over a tree) where each query's result feeds later iterations."""

    if not isinstance(loop, cst.For):
        return False
    effects = statement_effects([loop.body])
    for ref in dotted_refs(loop.iter):
        if any(paths_overlap(ref, p) for p in effects.stores) or any(p[: len(ref)] == ref for p in effects.receivers):
            return True
    return False


def _in_dispatch_branch(ctx: RuleContext, node: cst.CSTNode, loop: cst.CSTNode, varying: set[str]) -> bool:
    """``for op in ops: if op["action"] == "add": ... elif op["action"] == "remove": db.get(...)``: the
    query sits in one branch of an ``if``/``elif`` chain that compares a per-item value with two or
    more different literals. Each item is a different operation (add, move, delete) applied in order,
    later ones possibly on what earlier ones made: not one query repeated over a list of keys."""
    child = node
    for anc in ctx.ancestors(node):
        if anc is loop:
            return False
        if isinstance(anc, cst.If) and child is not anc.test:
            subject = _dispatch_subject(anc.test, varying)
            if subject is not None:
                literals = set()
                # climb to the head of the ``if``/``elif`` chain, then walk down it
                head = anc
                while isinstance(ctx.parent(head), cst.If) and ctx.parent(head).orelse is head:
                    head = ctx.parent(head)
                current: cst.CSTNode | None = head
                while isinstance(current, cst.If):
                    literal = _dispatch_literal(current.test, subject)
                    if literal is not None:
                        literals.add(literal)
                    current = current.orelse
                if len(literals) >= 2:
                    return True
        child = anc
    return False


def _dispatch_subject(test: cst.BaseExpression, varying: set[str]) -> str | None:
    """``action == "add"`` (``action`` per item) -> the code of ``action``."""
    if isinstance(test, cst.Comparison) and len(test.comparisons) == 1 and isinstance(test.comparisons[0].operator, cst.Equal):
        left, right = test.left, test.comparisons[0].comparator
        if _literal_text(right) is not None and referenced_names(left) & varying:
            return cst.Module([]).code_for_node(left)
    return None


def _dispatch_literal(test: cst.BaseExpression, subject: str) -> str | None:
    if isinstance(test, cst.Comparison) and len(test.comparisons) == 1 and isinstance(test.comparisons[0].operator, cst.Equal):
        if cst.Module([]).code_for_node(test.left) == subject:
            return _literal_text(test.comparisons[0].comparator)
    return None
