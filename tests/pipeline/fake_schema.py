"""The schema the fake engine serves: Dagger v0.21.8 SDL plus what dagger-io 0.21.11 adds."""

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

SCHEMA_ENV = "DAGGER_SCHEMA"
SCHEMA_NAME = "schema-v0.21.8.graphqls"

# dagger-io 0.21.11's generated client (dagger/client/gen.py) selects these fields, which the
# published v0.21.8 schema lacks: the Volume API. Signatures are copied from gen.py; object
# arguments are `ID` with @expectedType, like every other object argument in the schema.
VOLUME_API_SDL = '''
"""A filesystem volume that can be mounted into containers (dagger-io 0.21.11)."""
type Volume implements Node {
  id: ID!
}

extend type Address {
  volume: Volume!
}

extend type Binding {
  asVolume: Volume!
}

extend type Container {
  withMountedVolume(
    path: String!
    volume: ID! @expectedType(name: "Volume")
    readOnly: Boolean = false
    expand: Boolean = false
  ): Container!
}

extend type Env {
  withVolumeInput(
    name: String!
    value: ID! @expectedType(name: "Volume")
    description: String!
  ): Env!
  withVolumeOutput(name: String!, description: String!): Env!
}

extend type Query {
  sshfsVolume(
    endpoint: String!
    privateKey: ID! @expectedType(name: "Secret")
    knownHosts: ID @expectedType(name: "Secret")
    cacheKey: String
    insecureSkipHostKeyCheck: Boolean = false
    experimentalServiceHost: ID @expectedType(name: "Service")
  ): Volume!
}
'''


def default_schema_path() -> Path:
    """`$DAGGER_SCHEMA`, else `<repo>/../shared/dagger/schema-v0.21.8.graphqls`."""
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
    """Parse the published schema, add the Volume API and (optionally) `loadXFromID` fields."""
    schema = build_schema(path.read_text(encoding="utf-8"))
    schema = extend_schema(schema, parse(VOLUME_API_SDL))
    if load_from_id:
        schema = extend_schema(schema, parse(_load_from_id_sdl(schema)))
    return schema
