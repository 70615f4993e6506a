"""The one catalogue of what the suite checks: every gate (op) and every worked graph, and the inputs to test.

Torch-free and engine-free: it names things. The seam's contract (``parity.seam``), the torch reference
(``reference.ops`` maps each name to its torch function), the gate and graph tests, the property strategies,
the planted-bug selections and README's op table all read it. Adding a gate is one engine class, one entry
here and one torch mapping.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

DTYPES = ("float32", "float64")  # every parity check runs in both

# the shapes of the random gate cases: name -> one shape per input
UNARY_SHAPES = {"scalar": ((),), "vector": ((7,),), "matrix": ((3, 4),), "tall": ((64, 9),)}
BINARY_SHAPES = {
    **{name: (s, s) for name, ((s,)) in UNARY_SHAPES.items()},
    # a broadcast input's gradient is summed back to its shape
    "broadcast-bias-column": ((4, 6), (4, 1)),
    "broadcast-row": ((4, 6), (6,)),
    "broadcast-scalar-matrix": ((), (3, 5)),
    "broadcast-both": ((3, 1), (1, 5)),
}
MATMUL_SHAPES = {
    "2d": ((3, 4), (4, 5)),
    "vector-out": ((1, 6), (6, 1)),
    "stacked": ((2, 3, 4), (4, 5)),
    "stacked-both": ((2, 3, 4), (2, 4, 5)),
}


@dataclass(frozen=True)
class Param:
    """A constant an op's constructor takes (positionally, in catalogue order), not an input.

    tag: its prefix in case names (``n2-matrix``); cases: the values the random gate cases sweep; low, high:
    the range the property strategies draw from, whole numbers included when ``integers``."""

    name: str
    tag: str
    cases: tuple[float, ...]
    low: float
    high: float
    integers: bool = False


@dataclass(frozen=True)
class Edge:
    """A named edge case: one list of values per input (float64, cast to the case's dtype), and the params."""

    values: tuple[tuple[float, ...], ...]
    params: tuple[float, ...] = ()


def _anywhere(*params) -> float | None:
    return None


@dataclass(frozen=True)
class Op:
    """One gate.

    name: the reference's and the tests' name; engine_class: the class an engine provides
    (docs/engine-api.md); torch: the torch function that ``reference.ops`` maps it to; shape: ``elementwise``
    (one input), ``broadcast`` (two inputs that broadcast together) or ``matmul``; formula: what it computes,
    for README; params: its constructor's constants; shapes: the random cases (name -> one shape per input);
    scale: their inputs are standard normal times this; lowest: the smallest input with a real result for
    given params (None: any); edges: named edge cases (kinks, saturation, overflow bounds)."""

    name: str
    engine_class: str
    torch: str
    shape: str
    formula: str
    params: tuple[Param, ...] = ()
    shapes: Mapping[str, tuple[tuple[int, ...], ...]] = field(default_factory=dict)
    scale: float = 1.0
    lowest: Callable[..., float | None] = _anywhere
    edges: Mapping[str, Edge] = field(default_factory=dict)
    dtypes: tuple[str, ...] = DTYPES

    @property
    def arity(self) -> int:
        return 1 if self.shape == "elementwise" else 2

    @property
    def input_names(self) -> tuple[str, ...]:
        return ("x",) if self.arity == 1 else ("a", "b")

    @property
    def capability(self) -> str:
        return f"gate {self.engine_class}"


INF = float("inf")


def _fixed(*values) -> tuple[tuple[float, ...], ...]:
    return tuple(tuple(v) for v in values)


EXPONENT = Param("exponent", "n", cases=(2, 3, -1, 0.5, 1.7, 0, 1), low=-4.0, high=4.0, integers=True)
NEGATIVE_SLOPE = Param("negative_slope", "slope", cases=(0.01, 0.2), low=0.0, high=1.0)

_OPS = (
    Op("add", "Add", "torch.add", "broadcast", "a + b", shapes=BINARY_SHAPES, edges={
        "opposite": Edge(_fixed([1e16, -1.0, 1e-300], [-1e16, 1.0, 1e-300])),
    }),
    Op("multiply", "Multiply", "torch.mul", "broadcast", "a * b", shapes=BINARY_SHAPES, edges={
        "zeros-and-infs": Edge(_fixed([0.0, 1.0, -2.0, INF], [3.0, 0.0, 1e30, 0.0])),
    }),
    Op("power", "Power", "torch.pow", "elementwise", "x ** exponent", params=(EXPONENT,),
       shapes={"matrix": ((3, 4),)},
       # a negative base has no real power for a non-integer exponent
       lowest=lambda exponent: None if float(exponent).is_integer() else 0.0,
       edges={
           "n2-zero-negative": Edge(_fixed([-3.0, -1.5, 0.0, -0.0, 2.0]), (2,)),
           "n3-zero-negative": Edge(_fixed([-3.0, -1.5, 0.0, 2.0]), (3,)),
           "n0-zero-negative": Edge(_fixed([-3.0, 0.0, 2.0]), (0,)),
           "n-1-zero": Edge(_fixed([0.0, -2.0, 0.5]), (-1,)),
           "n0.5-zero": Edge(_fixed([0.0, 4.0, 1e-8]), (0.5,)),
       }),
    Op("exp", "Exp", "torch.exp", "elementwise", "exp(x)", shapes=UNARY_SHAPES, scale=2.0, edges={
        "near-overflow-f32": Edge(_fixed([88.0, 88.7, 89.0, -103.0, -88.0])),
        "near-overflow-f64": Edge(_fixed([709.0, 709.78, 710.0, -745.0, -708.0])),
    }),
    Op("sigmoid", "Sigmoid", "torch.sigmoid", "elementwise", "1 / (1 + exp(-x))", shapes=UNARY_SHAPES,
       scale=2.0, edges={
           "pm40": Edge(_fixed([-40.0, 40.0, -36.0, 36.0, 0.0])),
           "pm800": Edge(_fixed([-800.0, 800.0, -1000.0, 1000.0])),
       }),
    Op("relu", "ReLU", "torch.relu", "elementwise", "max(x, 0)", shapes=UNARY_SHAPES, scale=2.0, edges={
        "at-zero": Edge(_fixed([-1.0, -0.0, 0.0, 1e-300, -1e-300, 2.0])),
    }),
    Op("tanh", "Tanh", "torch.tanh", "elementwise", "tanh(x)", shapes=UNARY_SHAPES, scale=2.0, edges={
        "pm20": Edge(_fixed([-20.0, 20.0, -9.0, 9.0, 0.0])),
    }),
    Op("matmul", "MatMul", "torch.matmul", "matmul", "a @ b", shapes=MATMUL_SHAPES),
    Op("leaky_relu", "LeakyReLU", "torch.nn.functional.leaky_relu", "elementwise",
       "x if x > 0 else negative_slope * x", params=(NEGATIVE_SLOPE,), shapes=UNARY_SHAPES, scale=2.0, edges={
           "at-zero": Edge(_fixed([-1.0, -0.0, 0.0, 1e-300, -1e-300, 2.0, -INF, INF]), (0.01,)),
           "negative-slope": Edge(_fixed([-2.0, -0.0, 0.0, 3.0, -1e-300]), (-0.5,)),
       }),
)  # fmt: skip

#: name -> Op, in the order of the contract (seam capabilities, summary rows)
GATES: dict[str, Op] = {op.name: op for op in _OPS}


def gate(name: str) -> Op:
    """The op called ``name`` (its catalogue name, or its engine class name)."""
    for op in GATES.values():
        if name in (op.name, op.engine_class):
            return op
    raise KeyError(f"unknown gate {name!r}; known: {', '.join(GATES)}")


@dataclass(frozen=True)
class Graph:
    """One of the notebook's worked graphs: its inputs, the values the notebook works it at, what it computes,
    and the gates it is built from (an engine without ``graphs`` gets it composed from them)."""

    name: str
    inputs: tuple[str, ...]
    notebook_values: tuple[float, ...]
    formula: str
    gates: tuple[str, ...]


_GRAPHS = (
    Graph("add_mul", ("x", "y", "z"), (2.0, 3.0, 4.0), "(x + y) * z", ("Add", "Multiply")),
    Graph("sigmoid_mul_add", ("x", "y", "z"), (2.0, -3.0, 1.0), "sigmoid(x * y + z)",
          ("Multiply", "Add", "Sigmoid")),
    Graph("chain_square", ("x",), (0.5,), "(3x + 1) ** 2", ("Multiply", "Add", "Power")),
    Graph("two_paths", ("x",), (3.0,), "(x + 1) * (2x)", ("Add", "Multiply")),
    Graph("shared_input", ("a", "b", "c"), (1.0, 2.0, 3.0), "(a + b) * (b + c)", ("Add", "Multiply")),
)  # fmt: skip

#: name -> Graph, in a fixed order for parametrizing tests
GRAPHS: dict[str, Graph] = {g.name: g for g in _GRAPHS}

#: the gates the harness needs to compose every worked graph (parity.compose), in contract order
GRAPH_GATES: tuple[str, ...] = tuple(
    op.engine_class for op in GATES.values() if any(op.engine_class in g.gates for g in _GRAPHS)
)


def op_table() -> str:
    """README's op table (a test holds README to it)."""
    lines = [
        "| op | engine class | torch | inputs | parameters | computes | edge cases |",
        "|---|---|---|---|---|---|---|",
    ]
    for op in GATES.values():
        params = ", ".join(f"`{p.name}`" for p in op.params) or "none"
        edges = ", ".join(f"`{e}`" for e in op.edges) or "none"
        lines.append(
            f"| `{op.name}` | `{op.engine_class}` | `{op.torch}` | {', '.join(op.input_names)} | {params} "
            f"| `{op.formula}` | {edges} |"
        )
    return "\n".join(lines)
