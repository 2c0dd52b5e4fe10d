"""Which AWS operations each Lambda handler can reach, read from the code with mypy's types.

mypy type-checks `functions/` (the same strict types `make typecheck` enforces) and this walks the
result: every function and method is a node; a name or attribute that refers to another function,
method or class of the project is an edge (a reference counts as a call: a method handed to a
decorator is called later); an attribute of a boto3 client (`mypy_boto3_*` type) that names one of
the service's operations is an AWS call at that node; a reference to a library class (Powertools
Idempotency's DynamoDB layer, say) is recorded for the access model to expand. From a handler,
everything reachable is what its role must allow.

Over-approximations, on purpose: reaching any function of a module reaches the module's top level
(it ran when the module was imported), and a function registered by a decorator call at import
time (`@app.post(...)`) is reachable from its module's top level. A boto3 client typed `Any` would
hide its calls, so such an attribute that names an AWS operation is reported as untyped.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from botocore.session import get_session
from mypy import build, nodes
from mypy.find_sources import create_source_list
from mypy.options import Options
from mypy.traverser import NameAndMemberCollector
from mypy.types import AnyType, Instance, ProperType, Type, TypeType, UnionType, get_proper_type

from agenthub import PROJECT_ROOT

FUNCTIONS_DIR = PROJECT_ROOT / "functions"
# Each tool stack's own code; the hub library layer gives it functions/shared and contracts.
TOOL_CODE_DIRS = tuple(sorted((PROJECT_ROOT / "tools").glob("*/src")))
TOP = "<module>"
_BOTO3_STUBS = "mypy_boto3_"
_CLIENT_METHODS = {"generate_presigned_url", "generate_presigned_post"}


class CodeError(RuntimeError):
    """The code cannot be read (a handler that does not exist, say)."""


@dataclass(frozen=True, order=True)
class AwsCall:
    site: str  # the function or method that makes the call, by its full name
    service: str  # botocore's service name: dynamodb, s3, bedrock-runtime, ...
    operation: str  # the client method: put_item, publish, ...
    where: str  # file:line

    @property
    def key(self) -> str:
        return f"{self.service}.{self.operation}"


@dataclass(frozen=True, order=True)
class LibraryUse:
    site: str
    symbol: str  # full name of the library class or function referred to


@dataclass
class CodeMap:
    modules: set[str] = field(default_factory=set)
    edges: dict[str, set[str]] = field(default_factory=dict)
    calls: dict[str, set[AwsCall]] = field(default_factory=dict)
    uses: dict[str, set[LibraryUse]] = field(default_factory=dict)
    untyped: list[str] = field(default_factory=list)  # AWS-looking calls on untyped receivers

    def reachable(self, roots: Iterable[str]) -> set[str]:
        seen: set[str] = set()
        stack = list(roots)
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            stack.extend(self.edges.get(node, ()))
            module = _module_of(node, self.modules)
            if module is not None:
                stack.append(f"{module}.{TOP}")
        return seen

    def handler_roots(self, handler: str) -> list[str]:
        """`core.writer.lambda_handler` -> the nodes a Lambda invocation of it starts from."""
        module, _, name = handler.rpartition(".")
        if module not in self.modules:
            raise CodeError(f"handler {handler}: no module {module} in the code read")
        roots = [f"{module}.{TOP}"]
        if f"{module}.{name}" in self.edges:
            roots.append(f"{module}.{name}")
        return roots

    def aws_calls_from(self, handler: str) -> set[AwsCall]:
        return {
            call for node in self.reachable(self.handler_roots(handler)) for call in self.calls.get(node, ())
        }

    def library_uses_from(self, handler: str) -> set[LibraryUse]:
        return {
            use for node in self.reachable(self.handler_roots(handler)) for use in self.uses.get(node, ())
        }

    def all_calls(self) -> set[AwsCall]:
        return {call for calls in self.calls.values() for call in calls}


def _module_of(node: str, modules: set[str]) -> str | None:
    parts = node.split(".")
    for end in range(len(parts) - 1, 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


@cache
def _operations(service: str) -> frozenset[str]:
    from botocore import xform_name

    model = get_session().get_service_model(service)
    return frozenset({xform_name(name) for name in model.operation_names} | _CLIENT_METHODS)


@cache
def _all_operations() -> frozenset[str]:
    names: set[str] = set()
    for service in (
        "dynamodb",
        "s3",
        "sns",
        "sqs",
        "stepfunctions",
        "bedrock",
        "bedrock-runtime",
        "sagemaker",
        "eks",
    ):
        names |= _operations(service)
    return frozenset(names)


def _service_of(type_fullname: str) -> str:
    # mypy_boto3_bedrock_runtime.client.BedrockRuntimeClient -> bedrock-runtime
    return type_fullname.split(".", 1)[0][len(_BOTO3_STUBS) :].replace("_", "-")


def _mypy_options() -> Options:
    options = Options()
    options.python_version = (3, 13)
    options.mypy_path = [str(FUNCTIONS_DIR)]
    options.explicit_package_bases = True
    options.export_types = True
    options.preserve_asts = True
    options.incremental = False
    options.follow_imports = "silent"
    options.ignore_missing_imports = True
    options.plugins = ["pydantic.mypy"]
    return options


class _Reader:
    def __init__(self, result: build.BuildResult, modules: set[str]) -> None:
        self._types = result.types
        self.map = CodeMap(modules=modules)

    def _project(self, fullname: str | None) -> bool:
        return bool(fullname) and _module_of(str(fullname), self.map.modules) is not None

    def read(self, module: str, tree: nodes.MypyFile) -> None:
        top = f"{module}.{TOP}"
        self.map.edges.setdefault(top, set())
        for definition in _definitions(tree.defs):
            if not isinstance(definition, (nodes.FuncDef, nodes.Decorator, nodes.OverloadedFuncDef)):
                self._collect(top, definition, tree.path)  # a statement at module or class level
                continue
            name = definition.fullname
            self.map.edges.setdefault(name, set())
            body = definition.func if isinstance(definition, nodes.Decorator) else definition
            self._collect(name, body, tree.path)
            if isinstance(definition, nodes.Decorator):
                if any(isinstance(decorator, nodes.CallExpr) for decorator in definition.decorators):
                    self.map.edges[top].add(name)  # registered at import time (a route, a handler)
                for decorator in definition.decorators:
                    self._collect(top, decorator, tree.path)

    def _collect(self, site: str, node: nodes.Node, path: str) -> None:
        collector = NameAndMemberCollector()
        node.accept(collector)
        edges = self.map.edges.setdefault(site, set())
        for name_expr in collector.name_exprs:
            if isinstance(name_expr.node, nodes.Var):  # `cls` in a classmethod, a class in a variable
                for proper in _flatten(self._types.get(name_expr)):
                    if isinstance(proper, TypeType) and isinstance(proper.item, Instance):
                        self._refer(site, edges, proper.item.type)
                continue
            self._refer(site, edges, name_expr.node)
        for member in collector.member_exprs:
            if member.node is not None and self._project(getattr(member.node, "fullname", None)):
                self._refer(site, edges, member.node)
                continue
            if isinstance(member.expr, nodes.RefExpr) and isinstance(member.expr.node, nodes.TypeInfo):
                receivers: list[ProperType] = [TypeType(Instance(member.expr.node, []))]  # Class.attr
            else:
                receivers = list(_flatten(self._types.get(member.expr)))
            for proper in receivers:
                self._attribute(site, edges, proper, member, path)

    def _refer(self, site: str, edges: set[str], target: nodes.Node | None) -> None:
        if isinstance(target, (nodes.FuncDef, nodes.Decorator, nodes.OverloadedFuncDef)):
            if self._project(target.fullname):
                edges.add(target.fullname)
            else:
                self.map.uses.setdefault(site, set()).add(LibraryUse(site, target.fullname))
        elif isinstance(target, nodes.TypeInfo):
            if self._project(target.fullname):
                for method in ("__init__", "__post_init__", "__call__"):
                    found = target.get(method)
                    if found is not None and found.node is not None and self._project(found.node.fullname):
                        edges.add(found.node.fullname)
            else:
                self.map.uses.setdefault(site, set()).add(LibraryUse(site, target.fullname))

    def _attribute(
        self, site: str, edges: set[str], receiver: ProperType, member: nodes.MemberExpr, path: str
    ) -> None:
        info = None
        if isinstance(receiver, Instance):
            info = receiver.type
        elif isinstance(receiver, TypeType) and isinstance(receiver.item, Instance):
            info = receiver.item.type
        if info is None:
            if isinstance(receiver, AnyType) and member.name in _all_operations():
                self.map.untyped.append(
                    f"{self._where(path, member)} .{member.name}() on an untyped receiver"
                )
            return
        if info.fullname.startswith(_BOTO3_STUBS):
            service = _service_of(info.fullname)
            if member.name in _operations(service):
                call = AwsCall(site, service, member.name, self._where(path, member))
                self.map.calls.setdefault(site, set()).add(call)
            return
        found = info.get(member.name)
        if (
            found is not None
            and found.node is not None
            and self._project(getattr(found.node, "fullname", None))
        ):
            self._refer(site, edges, found.node)

    def _where(self, path: str, node: nodes.Context) -> str:
        relative = Path(path).resolve().relative_to(PROJECT_ROOT)
        return f"{relative}:{node.line}"


def _flatten(type_: Type | None) -> Iterator[ProperType]:
    if type_ is None:
        return
    proper = get_proper_type(type_)
    if isinstance(proper, UnionType):
        for item in proper.items:
            yield from _flatten(item)
    else:
        yield proper


def _definitions(statements: list[nodes.Statement]) -> Iterator[nodes.Statement]:
    """Functions and methods, and every other statement at module or class level."""
    for statement in statements:
        if isinstance(statement, nodes.ClassDef):
            yield from _definitions(statement.defs.body)
        elif isinstance(statement, nodes.IfStmt) and _is_type_checking(statement):
            continue  # imports for the type checker only
        else:
            yield statement


def _is_type_checking(statement: nodes.IfStmt) -> bool:
    condition = statement.expr[0] if statement.expr else None
    return isinstance(condition, nodes.NameExpr) and condition.name == "TYPE_CHECKING"


def read_code(code_dirs: Sequence[Path] = (FUNCTIONS_DIR, *TOOL_CODE_DIRS)) -> CodeMap:
    """Type-checks the code folders (Lambda task roots and layers: the hub's functions/, each
    tool's src/) and maps what each of their functions reaches."""
    options = _mypy_options()
    options.mypy_path = [str(code_dir) for code_dir in code_dirs]
    sources = create_source_list([str(code_dir) for code_dir in code_dirs], options)
    result = build.build(sources, options)
    modules = {source.module for source in sources}
    reader = _Reader(result, modules)
    for source in sources:
        tree = result.graph[source.module].tree
        if tree is not None:
            reader.read(source.module, tree)
    return reader.map
