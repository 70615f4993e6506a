"""The op catalogue (parity/catalogue.py) is the one list: the seam's contract, the torch reference, the
composed graphs, README's op table and the planted bugs all agree with it."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest

import reference
from parity import catalogue, compose, mutants
from parity.seam import CAPABILITIES, load_engine
from reference import conditioning, graphs, ops

ROOT = Path(__file__).resolve().parents[1]


def resolve(dotted: str):
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


@pytest.mark.parametrize("name", list(catalogue.GATES))
def test_every_op_has_its_torch_function_its_rounding_analysis_and_a_capability(name):
    op = catalogue.GATES[name]
    assert ops.TORCH[name] is resolve(op.torch)
    assert name in conditioning.GATE_RULES
    assert op.capability in CAPABILITIES
    assert op.dtypes == catalogue.DTYPES and op.shapes, "random cases in both dtypes"


def test_the_reference_the_seam_and_the_catalogue_list_the_same_ops_and_graphs():
    assert reference.GATES == tuple(catalogue.GATES) and set(ops.TORCH) == set(catalogue.GATES)
    assert [c for c in CAPABILITIES if c.startswith("gate ")] == [
        op.capability for op in catalogue.GATES.values()
    ]
    assert reference.GRAPHS == tuple(catalogue.GRAPHS) == tuple(compose.GRAPHS) == tuple(graphs.EXPRESSIONS)
    for name, graph in catalogue.GRAPHS.items():
        assert tuple(inspect.signature(graphs.EXPRESSIONS[name]).parameters) == graph.inputs


def test_scratch_nn_provides_every_op_and_graph_of_the_catalogue():
    engine = load_engine("scratch_nn")
    assert {op.capability for op in catalogue.GATES.values()} <= set(engine.provided)
    sn_graphs = engine.module.graphs.GRAPHS
    assert {name: g.inputs for name, g in catalogue.GRAPHS.items()} == {n: v[1] for n, v in sn_graphs.items()}


def test_a_gate_is_found_by_its_name_or_its_class_and_an_unknown_one_is_refused():
    assert catalogue.gate("leaky_relu") is catalogue.gate("LeakyReLU") is catalogue.GATES["leaky_relu"]
    with pytest.raises(KeyError, match="unknown gate 'Softmax'"):
        catalogue.gate("Softmax")


def test_readme_op_table_is_the_catalogue():
    assert catalogue.op_table() in (ROOT / "README.md").read_text()


def test_every_op_has_a_planted_bug_selected_by_its_cases():
    selections = [" ".join(bug.selection) for bug in mutants.CATALOGUE]
    for name in catalogue.GATES:
        if name in ("add", "matmul"):  # the broadcast bugs select add's and multiply's broadcast cases
            continue
        assert any(name in s for s in selections), name
    assert mutants.op_cases("relu") == "relu- and not leaky_relu"
    assert mutants.op_cases("relu", "exp") == "(relu- and not leaky_relu) or exp-"
    with pytest.raises(KeyError):
        mutants.op_cases("softmax")
