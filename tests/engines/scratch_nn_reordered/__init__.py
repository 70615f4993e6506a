"""scratch_nn with its products and sums in another order: a second correct engine (a test fixture).

The modules are scratch_nn's own source files, compiled under this package's name after one AST rewrite:
``a @ b``, ``np.matmul`` and ``np.dot`` become ``_ops.matmul`` (np.einsum's loop instead of BLAS), and
``np.add.reduce``, ``np.sum`` and ``x.sum(...)`` become sequential sums. Nothing else changes, so any
difference from scratch_nn is rounding: what the tolerance policy must allow and no more.
"""

from __future__ import annotations

import ast
import importlib.abc
import importlib.util
import sys
from pathlib import Path

_SOURCE = Path(importlib.util.find_spec("scratch_nn").origin).parent
_OPS = f"{__name__}._ops"
_ALIAS = "_reorder_ops"


class _Reorder(ast.NodeTransformer):
    def _ops(self, name: str, node: ast.AST) -> ast.Attribute:
        return ast.copy_location(ast.Attribute(ast.Name(_ALIAS, ast.Load()), name, ast.Load()), node)

    def visit_BinOp(self, node: ast.BinOp):
        self.generic_visit(node)
        if isinstance(node.op, ast.MatMult):
            return ast.copy_location(ast.Call(self._ops("matmul", node), [node.left, node.right], []), node)
        return node

    def visit_Attribute(self, node: ast.Attribute):
        self.generic_visit(node)
        text = ast.unparse(node)
        if text in ("np.matmul", "np.dot"):
            return self._ops("matmul", node)
        if text == "np.add.reduce":
            return self._ops("add_reduce", node)
        if text == "np.sum":
            return self._ops("sum_", node)
        return node

    def visit_Call(self, node: ast.Call):
        self.generic_visit(node)
        f = node.func
        if isinstance(f, ast.Attribute) and f.attr == "sum" and not ast.unparse(f.value).startswith(_ALIAS):
            return ast.copy_location(
                ast.Call(self._ops("sum_", node), [f.value, *node.args], node.keywords), node
            )
        return node


def _compile(path: Path):
    tree = _Reorder().visit(ast.parse(path.read_text(), str(path)))
    body = tree.body
    at = next(
        (
            i
            for i, s in enumerate(body)
            if not (isinstance(s, ast.ImportFrom) and s.module == "__future__")
            and not (i == 0 and isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
        ),
        len(body),
    )
    body.insert(at, ast.Import([ast.alias(_OPS, _ALIAS)]))
    tree = ast.fix_missing_locations(tree)
    # `import a.b as c` binds c to the submodule
    return compile(tree, str(path), "exec")


class _Loader(importlib.abc.Loader):
    def __init__(self, path: Path):
        self.path = path

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        exec(_compile(self.path), module.__dict__)  # noqa: S102  (scratch_nn's own source, rewritten)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        prefix = __name__ + "."
        if not fullname.startswith(prefix) or fullname == _OPS:
            return None
        file = _SOURCE / (fullname[len(prefix) :].replace(".", "/") + ".py")
        if not file.is_file():
            return None
        return importlib.util.spec_from_file_location(fullname, file, loader=_Loader(file))


if not any(isinstance(f, _Finder) for f in sys.meta_path):
    sys.meta_path.insert(0, _Finder())

from . import _ops as _reorder_ops  # noqa: E402, F401  (after the finder: the name the rewritten source calls)

exec(_compile(_SOURCE / "__init__.py"), globals())  # noqa: S102
