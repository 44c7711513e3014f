"""Executes validated queries against the Dagger schema by recording call chains, not running."""

from __future__ import annotations

import dataclasses
import hashlib
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from graphql import (
    DocumentNode,
    GraphQLAbstractType,
    GraphQLEnumType,
    GraphQLError,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLSchema,
    execute_sync,
    get_named_type,
    get_nullable_type,
    is_leaf_type,
)

from tests.pipeline.fake_calls import Call, ExecFailure, Obj, deep_calls

Responder = Callable[[Call], Any]

LOAD_FROM_ID = re.compile(r"load(\w+)FromID")
SCALAR_DEFAULTS: dict[str, Any] = {
    "String": "",
    "Int": 0,
    "Float": 0.0,
    "Boolean": True,
    "JSON": "null",
    "Platform": "linux/amd64",
    "Void": None,
}


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def expected_type(field: GraphQLField) -> str | None:
    """The `@expectedType(name:)` of an `ID` field, if any."""
    for directive in (field.ast_node and field.ast_node.directives) or ():
        if directive.name.value == "expectedType" and directive.arguments:
            return str(getattr(directive.arguments[0].value, "value", ""))
    return None


def exec_error(cmd: list[str], failure: ExecFailure) -> GraphQLError:
    """The error the engine returns when a `withExec` exits non-zero."""
    message = (
        f'process "{" ".join(cmd)}" did not complete successfully: exit code: {failure.exit_code}'
    )
    extensions = {
        "_type": "EXEC_ERROR",
        "cmd": list(cmd),
        "exitCode": failure.exit_code,
        "stdout": failure.stdout,
        "stderr": failure.stderr,
    }
    return GraphQLError(message, extensions=extensions)


@dataclasses.dataclass(slots=True)
class _QueryContext:
    index: int


class Executor:
    """Resolves every field generically; thread-safe, so queries can be served concurrently."""

    def __init__(self, schema: GraphQLSchema) -> None:
        self.schema = schema
        self._log: list[Call] = []
        self._secrets: list[tuple[str, str]] = []
        self.responders: dict[str, Responder] = {}
        self.delays: dict[str, float] = {}
        self.failures: list[ExecFailure] = []
        self._objects: dict[str, Obj] = {}
        self._lock = threading.Lock()

    def run(
        self,
        document: DocumentNode,
        variables: Mapping[str, Any] | None,
        operation: str | None,
        index: int,
    ) -> dict[str, Any]:
        result = execute_sync(
            self.schema,
            document,
            root_value=Obj("Query", ()),
            context_value=_QueryContext(index),
            variable_values=dict(variables) if variables else None,
            operation_name=operation,
            field_resolver=self._resolve,
            type_resolver=self._resolve_type,
        )
        return dict(result.formatted)

    def log(self) -> list[Call]:
        """Every call resolved so far, in the order resolution started."""
        with self._lock:
            return list(self._log)

    def secrets(self) -> list[tuple[str, str]]:
        """`(name, plaintext)` of every `setSecret` call."""
        with self._lock:
            return list(self._secrets)

    def id_for(self, obj: Obj) -> str:
        """A content-addressed opaque ID; `node(id:)` / `loadXFromID` resolve it back to `obj`."""
        id_ = f"fake:{obj.type_name}:{digest(self._canonical(obj.calls))[:32]}"
        with self._lock:
            self._objects.setdefault(id_, obj)
        return id_

    def object_for(self, id_: Any) -> Obj:
        with self._lock:
            obj = self._objects.get(str(id_))
        if obj is None:
            raise GraphQLError(f"fake engine: unknown ID {id_!r}")
        return obj

    def _canonical(self, calls: tuple[Call, ...]) -> str:
        def value(v: Any) -> Any:
            if isinstance(v, Obj):
                return ("obj", self.id_for(v))
            if isinstance(v, list | tuple):
                return [value(x) for x in v]
            if isinstance(v, Mapping):
                return sorted((k, value(x)) for k, x in v.items())
            return v

        return repr([(c.key, value(dict(c.args))) for c in calls])

    def _resolve_type(
        self, value: Any, info: GraphQLResolveInfo[_QueryContext], abstract: GraphQLAbstractType
    ) -> str | None:
        return value.type_name if isinstance(value, Obj) else None

    def _resolve(self, source: Any, info: GraphQLResolveInfo[_QueryContext], /, **raw: Any) -> Any:
        if not isinstance(source, Obj):
            return source.get(info.field_name) if isinstance(source, Mapping) else None
        parent = info.parent_type
        field = parent.fields[info.field_name]
        sent = {a.name.value for a in info.field_nodes[0].arguments or ()}
        args = {
            k: self._args_to_objects(v, field.args[k].type) for k, v in raw.items() if k in sent
        }
        if parent.name == "Query" and (
            info.field_name == "node" or LOAD_FROM_ID.fullmatch(info.field_name)
        ):
            return self._load(args["id"], info.return_type)
        now = time.monotonic()
        named = get_named_type(info.return_type)
        call = Call(
            parent.name,
            info.field_name,
            args,
            source,
            is_leaf_type(named),
            info.context.index,
            now,
            now,
        )
        with self._lock:
            self._log.append(call)
            if call.key == "Query.setSecret":
                self._secrets.append((str(args["name"]), str(args["plaintext"])))
        if not call.leaf:
            return self._resolve_object(call, info.return_type)
        try:
            return self._resolve_leaf(call, field, info.return_type)
        finally:
            call.ended = time.monotonic()

    def _load(self, obj: Obj, return_type: GraphQLOutputType) -> Obj:
        """`node(id:)` / `loadXFromID(id:)`: the chain that produced the ID, type-checked."""
        named = get_named_type(return_type)
        if isinstance(named, GraphQLObjectType) and named.name != obj.type_name:
            raise GraphQLError(f"fake engine: ID of a {obj.type_name}, not a {named.name}")
        return obj

    def _resolve_object(self, call: Call, return_type: GraphQLOutputType) -> Any:
        if responder := self._responder(call):
            return responder(call)
        if isinstance(get_nullable_type(return_type), GraphQLList):
            return []
        named = get_named_type(return_type)
        if not isinstance(named, GraphQLObjectType):
            assert isinstance(named, GraphQLAbstractType)
            named = self.schema.get_possible_types(named)[0]
        return Obj(named.name, call.chain)

    def _resolve_leaf(self, call: Call, field: GraphQLField, return_type: GraphQLOutputType) -> Any:
        failed = self._exec_failure(call) if call.field != "id" else None
        if delay := self.delays.get(call.key, self.delays.get(call.field, 0.0)):
            time.sleep(delay)
        if failed:
            exec_call, failure = failed
            if exec_call.args.get("expect", "SUCCESS") == "SUCCESS":
                raise exec_error(list(exec_call.args.get("args", [])), failure)
            outcome = {
                "exitCode": failure.exit_code,
                "stdout": failure.stdout,
                "stderr": failure.stderr,
            }
            if call.field in outcome:
                return outcome[call.field]
        if responder := self._responder(call):
            return responder(call)
        return self._default_leaf(call, field, return_type)

    def _responder(self, call: Call) -> Responder | None:
        return self.responders.get(call.key) or self.responders.get(call.field)

    def _exec_failure(self, call: Call) -> tuple[Call, ExecFailure] | None:
        for step in deep_calls(call.parent.calls):
            if step.field != "withExec":
                continue
            cmd = [str(a) for a in step.args.get("args", [])]
            for failure in self.failures:
                if failure.match(cmd):
                    return step, failure
        return None

    def _default_leaf(self, call: Call, field: GraphQLField, return_type: GraphQLOutputType) -> Any:
        nullable = get_nullable_type(return_type)
        if isinstance(nullable, GraphQLList):
            return []
        named = get_named_type(return_type)
        if isinstance(named, GraphQLEnumType):
            return next(iter(named.values))
        if named.name == "ID":
            wanted = expected_type(field)
            if call.field == "id" or wanted is None or wanted == call.parent.type_name:
                return self.id_for(call.parent)
            return self.id_for(Obj(wanted, call.chain))
        return SCALAR_DEFAULTS.get(named.name, "")

    def _args_to_objects(self, value: Any, type_: GraphQLInputType) -> Any:
        """Replace every `ID` in an argument value by the `Obj` it names."""
        if value is None:
            return None
        if isinstance(type_, GraphQLNonNull):
            return self._args_to_objects(value, type_.of_type)
        if isinstance(type_, GraphQLList):
            return [self._args_to_objects(v, type_.of_type) for v in value]
        if isinstance(type_, GraphQLInputObjectType):
            return {k: self._args_to_objects(v, type_.fields[k].type) for k, v in value.items()}
        if getattr(type_, "name", None) == "ID":
            return self.object_for(value)
        return value
