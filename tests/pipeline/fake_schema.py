"""The schema the fake engines serve: the published SDL of the pinned dagger-io version."""

from __future__ import annotations

import functools
import os
from pathlib import Path

from graphql import (
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    build_schema,
    extend_schema,
    parse,
)

from ci.settings import DAGGER_VERSION

SCHEMA_ENV = "DAGGER_SCHEMA"
SCHEMA_NAME = f"schema-v{DAGGER_VERSION}.graphqls"  # the version pinned in pyproject.toml



def default_schema_path() -> Path:
    """`$DAGGER_SCHEMA`, else `<repo>/../shared/dagger/schema-v<pinned SDK version>.graphqls`."""
    if env := os.environ.get(SCHEMA_ENV, "").strip():
        return Path(env)
    repo = Path(__file__).resolve().parents[2]
    return repo.parent / "shared" / "dagger" / SCHEMA_NAME


def _load_from_id_sdl(schema: GraphQLSchema) -> str:
    """`Query.loadXFromID(id:)` for every Node type: gen.py has them, the published SDL not."""
    node = schema.type_map["Node"]
    assert isinstance(node, GraphQLInterfaceType)
    names = sorted(
        name
        for name, type_ in schema.type_map.items()
        if isinstance(type_, GraphQLObjectType | GraphQLInterfaceType)
        and name not in ("Query", "Node")
        and node in type_.interfaces
    )
    fields = "\n".join(f"  load{n}FromID(id: ID!): {n}!" for n in names)
    return f"extend type Query {{\n{fields}\n}}\n"


@functools.cache
def load_schema(path: Path, *, load_from_id: bool = True) -> GraphQLSchema:
    """Parse the published schema and (optionally) add the `loadXFromID` fields."""
    schema = build_schema(path.read_text(encoding="utf-8"))
    if load_from_id:
        schema = extend_schema(schema, parse(_load_from_id_sdl(schema)))
    return schema
