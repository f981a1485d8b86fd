"""The oracle: what the blueprint says *should* happen, computed, never hand-written."""

from gauntlet.oracle.connectivity import Cell, Expectation, TruthTable, compute_truth_table

__all__ = ["Cell", "Expectation", "TruthTable", "compute_truth_table"]
