"""Bulk SQL for the money paths: insert or update many rows in one statement from plain tuples.

PostgreSQL only: one `INSERT … SELECT … FROM unnest(…)` / `UPDATE … FROM unnest(…)` with each column sent as one
array literal; why this form and its figures are in docs/perf.md ("Bulk rows").
"""
from django.db import DEFAULT_DB_ALIAS, connections


# Columns the services fill with plain ints (or None) and strings: sent as one PostgreSQL array literal.
_INT_COLUMNS = {"AutoField", "BigAutoField", "BigIntegerField", "IntegerField", "PositiveIntegerField",
                "ForeignKey", "OneToOneField"}


def _text_array(values, as_int: bool) -> str:
    if as_int:
        return "{" + ",".join("NULL" if v is None else str(int(v)) for v in values) + "}"
    return "{" + ",".join("NULL" if v is None else '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'
                          for v in values) + "}"


def _pg_columns(columns, values_per_column: list[list], db) -> tuple[list[str], list, str, list]:
    """The SQL for rows given column by column: (select expressions, their parameters, unnest(…) AS v(…), its
    parameters). A column with one value for every row is one parameter; the others are columns of `unnest`,
    each one text literal ('{1,2,NULL}') when it holds ints or strings (docs/perf.md, "Bulk rows": psycopg2's
    ARRAY[…] is parsed element by element). The first column is always unnested."""
    exprs, scalars, unnests, arrays, names = [], [], [], [], []
    for i, (column, values) in enumerate(zip(columns, values_per_column)):
        sql_type = column.rel_db_type(db) if column.is_relation else column.db_type(db)
        internal = column.get_internal_type()
        plain = internal in _INT_COLUMNS or internal == "CharField"
        if i and all(v == values[0] for v in values):
            value = values[0]
            if not plain:
                value = column.get_db_prep_save(value, db)
            elif value is not None:
                value = int(value) if internal in _INT_COLUMNS else str(value)
            exprs.append(f"%s::{sql_type}")
            scalars.append(value)
            continue
        name = f"c{i}"
        names.append(name)
        exprs.append(f"v.{name}")
        unnests.append(f"%s::{sql_type}[]")
        arrays.append(_text_array(values, internal in _INT_COLUMNS) if plain
                      else [column.get_db_prep_save(value, db) for value in values])
    return exprs, scalars, f"unnest({', '.join(unnests)}) AS v({', '.join(names)})", arrays


def rows_update(model, fields: list[str], rows: list[tuple], *, add: bool = False) -> None:
    """Set `fields` (or with `add`, raise them by the values) for rows given as (pk, value, …) tuples,
    in one `UPDATE … FROM unnest(…)`."""
    if not rows:
        return
    db = connections[DEFAULT_DB_ALIAS]
    columns = [model._meta.pk] + [model._meta.get_field(name) for name in fields]
    exprs, scalars, unnest, arrays = _pg_columns(columns, [[row[i] for row in rows] for i in range(len(columns))], db)
    q = db.ops.quote_name
    table = q(model._meta.db_table)
    sets = ", ".join(f"{q(column.column)} = " + (f"{table}.{q(column.column)} + {expr}" if add else expr)
                     for column, expr in zip(columns[1:], exprs[1:]))
    with db.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {sets} FROM {unnest} WHERE {table}.{q(model._meta.pk.column)} = {exprs[0]}",
            scalars + arrays,
        )


def rows_insert(model, fields: list[str], rows: list[tuple]) -> list[int]:
    """Insert rows (values for `fields`, every other column its model default) and return their ids in order.

    One `INSERT … SELECT … FROM unnest(…)` built from plain tuples, no model instance per row (docs/perf.md,
    "Bulk rows").
    """
    if not rows:
        return []
    db = connections[DEFAULT_DB_ALIAS]
    given = [model._meta.get_field(name) for name in fields]
    others = [f for f in model._meta.concrete_fields if not f.primary_key and f not in given]
    values = [[row[i] for row in rows] for i in range(len(given))]
    values += [[column.get_default()] * len(rows) for column in others]
    exprs, scalars, unnest, arrays = _pg_columns(given + others, values, db)
    q = db.ops.quote_name
    with db.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {q(model._meta.db_table)} ({', '.join(q(c.column) for c in given + others)}) "
            f"SELECT {', '.join(exprs)} FROM {unnest} RETURNING {q(model._meta.pk.column)}",
            scalars + arrays,
        )
        return [row[0] for row in cursor.fetchall()]
