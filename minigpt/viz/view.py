"""`GraphView`: a graph read once, for the picture and the page alike.

Reading a graph costs a walk of it (the topological order) and a look through the
objects Python keeps (to name parameters, `graph.parameter_names`). A picture and the
page that steps over it need the same order, the same names and the same node ids,
so they share one GraphView instead of reading the graph twice.

Node ids (the DOT ids that the SVG keeps as titles, and the page's script uses):
    every node drawn:  "n3" for the Value at topological position 3, "o3" for the
                       circle of the operation that made it
    depth=k:           "g3" for group 3 of the collapse (`minigpt.viz.collapse`)
"""
from __future__ import annotations

from typing import Optional

from ..engine import topological_order
from .collapse import Collapsed, collapse
from .graph import as_graph, node_names

__all__ = ["GraphView", "check_depth"]


def check_depth(depth) -> None:
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 0):
        raise ValueError(f"depth must be a non-negative integer or None, got {depth!r}")


class GraphView:
    """root (as read by `as_graph`), order (topological, root last), names and pnames
    (`graph.node_names`), params and depth as given, and for depth=k `collapsed`."""

    def __init__(self, root, params=None, depth: Optional[int] = None):
        check_depth(depth)
        self.root = as_graph(root)
        self.order = topological_order(self.root)
        self.names, self.pnames = node_names(self.order, params)
        self.params, self.depth = params, depth
        self.position = {v: i for i, v in enumerate(self.order)}
        self.collapsed: Optional[Collapsed] = None if depth is None else collapse(
            self.order, depth, self.pnames, self.names)

    def node_id(self, v) -> str:
        """The id of the record drawn for Value `v` when every node is drawn."""
        return f"n{self.position[v]}"

    def op_id(self, v) -> str:
        """The id of the circle of the operation that made `v`."""
        return f"o{self.position[v]}"

    @staticmethod
    def group_id(g: int) -> str:
        """The id of group `g` of a collapsed picture."""
        return f"g{g}"
