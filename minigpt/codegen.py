"""From a graph to the lines of a program (see `minigpt/compile.py`): `Compiler` reads
the graph under a root, gives every node a cell of the flat storage, and writes, per
node, the line computing its value and the lines of the chain rule into its children.
"""
from __future__ import annotations

import math
from operator import itemgetter
from typing import Dict, List, Optional, Sequence, Tuple

from . import fused
from .engine import Constant, Value, topological_order
from .program import pow_local, rsqrt_var, softmax, take

__all__ = ["Compiler", "CompileError"]


class CompileError(ValueError):
    """The graph holds something the compiler cannot turn into a program."""


class Compiler:
    """Reads the graph under `root` and writes the program's lines.

    leaves: the input leaves, laid out first, in this order (parameters or inputs);
    slots:  {placeholder leaf: (t, f)}: the cell of feature f of the table row that
            token t selects when the program runs (`R[t] + f`);
    picks:  {id of a '-' node: t}: its second child is the logit the target of
            position t picks when the program runs (`Q[t]`);
    hints:  attention scales and LayerNorm eps to try first (see `_attend_scale`);
    batch_layers: write a model's linear layers, layer norms and hidden gelu as one
            block per layer and position (`compile_step`), not node by node.
    loops:  with batch_layers, write a linear layer's block as one call of a loop over
            cell numbers (`program.linear_rows`, `linear_x_grad`) where its cells are
            evenly laid out: for a tape (minigpt/tape.py), whose kernels PyPy's JIT
            compiles into tight loops. The same sums in the same order.
    """

    def __init__(self, root: Value, leaves: Sequence[Value], slots=None, picks=None, hints=None,
                 names: bool = False, batch_layers: bool = False, loops: bool = False):
        self.root, self.batch_layers, self.loops = root, batch_layers, loops
        self._dots: Dict[int, object] = {}
        self.order = topological_order(root)
        self.slots = slots or {}
        self.picks = picks or {}
        self.hinted_scales: List[float] = list((hints or {}).get("scales", ()))
        self.scales: List[float] = []
        self.epsilons: List[float] = list((hints or {}).get("eps", ()))
        self.where: Dict[int, int] = {}        # id(node) -> storage index
        self.template: List[float] = []
        for leaf in leaves:
            self._place(leaf)
        self.n_inputs = len(self.template)
        self.shifts = self._max_shifts()
        self.positions: Dict[tuple, list] = {}   # (matrix, x) -> its dot nodes, by row
        self.matrices: Dict[tuple, list] = {}    # matrix -> its (matrix, x) keys
        self.families = self._linear_families() if batch_layers else {}
        self._layout()
        self.gelu_nodes: Dict[tuple, list] = {}   # key -> the gelu nodes of one vector
        self.gelus = self._gelu_vectors() if batch_layers else {}
        self.names = self._names() if names else None
        self.aux = 0
        self.aux_of: Dict[object, object] = {}   # what is computed once -> its aux cell (or constant)
        self.constants: Dict[str, tuple] = {}    # name -> the numbers of a dot with numbers in it

    # -- storage --------------------------------------------------------------------
    def _place(self, node: Value) -> None:
        if id(node) not in self.where and node not in self.slots:
            self.where[id(node)] = len(self.template)
            self.template.append(0.0 if node._children else node.data)  # a leaf not given each run: a constant

    def _groups(self, node: Value) -> List[Sequence[Value]]:
        """The children of `node` that its line reads as one sequence."""
        ch, op = node._children, node.op
        if op == "dot" and self._full_dot(node):
            return list(self._full_dot(node)[:2])
        if op in ("sum", "dot", "softmax", "logsumexp", "mean", "rsqrt_var"):
            return [ch]
        if op == "attend":
            n = len(ch) // 2
            return [ch[:n], ch[n:]]
        return []

    def _layout(self) -> None:
        """Cells for every node: the children each n-ary node reads together side by
        side where none of them has a cell yet, the largest groups first."""
        groups = [grp for node in self.order for grp in self._groups(node)]
        groups += [grp for grp, _ in self.shifts.values()]
        groups += [[m[1] for m in members] for members in self.positions.values()]
        seen = set()
        for grp in sorted(groups, key=len, reverse=True):
            key = tuple(map(id, grp))
            if key in seen or len(set(key)) != len(key):
                continue
            seen.add(key)
            if all(id(c) not in self.where and c not in self.slots for c in grp):
                for c in grp:
                    self._place(c)
        for node in self.order:
            self._place(node)

    def _ix(self, node: Value, user: Optional[Value] = None, position: int = -1) -> str:
        """The cell of `node` as an index expression."""
        if user is not None and position == 1 and id(user) in self.picks:
            return f"q{self.picks[id(user)]}"
        slot = self.slots.get(node)
        if slot is not None:
            t, f = slot
            return f"r{t}+{f}" if f else f"r{t}"
        return str(self.where[id(node)])

    def _val(self, node, user=None, position=-1) -> str:
        return f"v[{self._ix(node, user, position)}]"

    def _grad(self, node, user=None, position=-1) -> str:
        return f"g[{self._ix(node, user, position)}]"

    def _slice(self, nodes: Sequence[Value]) -> Optional[str]:
        """`a:b` (or `a:b:s`, `r3+a:r3+b`) when the nodes' cells are evenly spaced."""
        if not nodes:
            return None
        if all(n in self.slots for n in nodes):
            rows = {self.slots[n][0] for n in nodes}
            fs = [self.slots[n][1] for n in nodes]
            if len(rows) == 1 and fs == list(range(fs[0], fs[0] + len(fs))):
                t = rows.pop()
                lo = f"r{t}+{fs[0]}" if fs[0] else f"r{t}"
                return f"{lo}:r{t}+{fs[-1] + 1}"
            return None
        if any(n in self.slots for n in nodes):
            return None
        idx = [self.where[id(n)] for n in nodes]
        if len(idx) == 1:
            return f"{idx[0]}:{idx[0] + 1}"
        step = idx[1] - idx[0]
        if step <= 0 or any(b - a != step for a, b in zip(idx, idx[1:])):
            return None
        return f"{idx[0]}:{idx[-1] + 1}" if step == 1 else f"{idx[0]}:{idx[-1] + 1}:{step}"

    def _read(self, nodes: Sequence[Value]) -> str:
        """An expression for the nodes' values as a sequence."""
        s = self._slice(nodes)
        if s is not None:
            return f"v[{s}]"
        return "(" + ", ".join(self._val(n) for n in nodes) + ",)"

    def _accumulate(self, nodes: Sequence[Value], contributions: str) -> str:
        """A line adding `contributions` (a sequence, one per node) to the nodes' grads."""
        s = self._slice(nodes)
        if s is not None:
            return f"g[{s}] = map(add, g[{s}], {contributions})"
        cells = "(" + ", ".join(self._ix(n) for n in nodes) + ",)"
        return f"for i, d in zip({cells}, {contributions}): g[i] += d"

    def _new_aux(self, key=None) -> int:
        if key is not None and key in self.aux_of:
            return self.aux_of[key]
        self.aux += 1
        if key is not None:
            self.aux_of[key] = self.aux - 1
        return self.aux - 1

    # -- names for comments ---------------------------------------------------------------
    def _names(self) -> Dict[int, str]:
        from .viz.graph import in_step, node_names
        names, _ = node_names(self.order)
        return {id(n): in_step(s) for n, s in names.items()}

    # -- max shifts of primitive softmax / logsumexp ----------------------------------------
    def _max_shifts(self) -> Dict[int, Tuple[List[Value], Value]]:
        """The Constants labelled 'max' that `minigpt.formulas` subtracts in softmax and
        logsumexp: {id(constant): (the values whose max it is, the constant)}."""
        users_of: Dict[int, List[Value]] = {}  # the users of each such constant
        for node in self.order:
            for child in node._children:
                if child.label == "max" and isinstance(child, Constant) and not child._children:
                    users_of.setdefault(id(child), []).append(node)
        shifts = {}
        for node in self.order:
            users = users_of.get(id(node))
            if not users:
                continue
            subtracted = [u._children[0] for u in users if u.op == "-" and u._children[1] is node]
            if (subtracted and all(u._children[1] is node and u.op in ("-", "+") for u in users)
                    and max(c.data for c in subtracted) == node.data):
                shifts[id(node)] = (subtracted, node)
        return shifts

    # -- the lines ------------------------------------------------------------------
    def forward_order(self) -> List[Value]:
        """The nodes, each after its children, and a max shift after the values it is
        the max of."""
        extra = {key: grp for key, (grp, _) in self.shifts.items()}
        order, seen, stack = [], set(), [(self.root, False)]
        while stack:  # depth first, children left to right, with an explicit stack (no recursion)
            node, placed = stack.pop()
            if placed:
                order.append(node)
            elif id(node) not in seen:
                seen.add(id(node))
                stack.append((node, True))
                for child in reversed(tuple(node._children) + tuple(extra.get(id(node), ()))):
                    if id(child) not in seen:
                        stack.append((child, False))
        return order

    def lines(self) -> Tuple[List[List[str]], List[List[str]], Dict[int, Tuple[int, str]]]:
        """(forward lines, backward lines, {forward node: (cell, op)}), the lines in one
        list per node. The backward
        lines take the nodes in the order `Value.backward()` does, so each gradient is
        the same sum in the same order."""
        fwd, info = [], {}
        self.norm_of = self._norm_families() if self.batch_layers else {}
        done = set()  # the linear families, gelu vectors and layer norms computed already
        for node in self.forward_order():
            fam = self.families.get(id(node))
            if id(node) in self.norm_of and self._slice(self.norms[self.norm_of[id(node)]]) is not None:
                key = self.norm_of[id(node)]
                if key not in done:  # a layer norm's outputs at once
                    done.add(key)
                    fwd.append(self._norm_forward(key))
                    info[len(fwd) - 1] = (tuple(self.where[id(n)] for n in self.norms[key]), "layer_norm")
            elif id(node) in self.gelus:  # gelu of a whole vector at once
                key = self.gelus[id(node)]
                if key not in done:
                    done.add(key)
                    fwd.append(self._gelu_forward(key))
                    info[len(fwd) - 1] = (tuple(self.where[id(n)] for n in self.gelu_nodes[key]), "gelu")
            elif fam is not None:  # a weight matrix times x_t: all its outputs at once
                if fam["pos"] not in done:
                    done.add(fam["pos"])
                    fwd.append(self._linear_forward(fam["pos"]))
                    info[len(fwd) - 1] = (tuple(self.where[id(m[1])] for m in self.positions[fam["pos"]]), "dot")
            elif id(node) in self.shifts:
                grp, _ = self.shifts[id(node)]
                fwd.append([f"{self._val(node)} = max({self._read(grp)})"
                            + self._note(f"{self.names[id(node)]}: the max shift" if self.names else "")])
                info[len(fwd) - 1] = ((self.where[id(node)],), "max")
            elif node._children:
                fwd.append(self._forward(node))
                info[len(fwd) - 1] = ((self.where[id(node)],), node.op)
        bwd = [[f"{self._grad(self.root)} = seed"
                + self._note(f"{self.names[id(self.root)]}.grad = 1" if self.names else "")]]
        batched = self.families
        left = {}  # members of each family and of each matrix not yet reached, going backward
        for fam in batched.values():
            left[fam["pos"]] = left.get(fam["pos"], 0) + 1
            left[fam["matrix"]] = left.get(fam["matrix"], 0) + 1
        norms = self.norm_of
        for key in norms.values():
            left[key] = left.get(key, 0) + 1
        for key, members in self.gelu_nodes.items():
            left[key] = len(members)
        for node in reversed(self.order):
            fam = batched.get(id(node))
            if id(node) in self.gelus:
                key = self.gelus[id(node)]
                left[key] -= 1
                if left[key] == 0:
                    bwd.append(self._gelu_backward(key))
            elif id(node) in norms:  # a layer norm's outputs: batched once all have their gradient
                key = norms[id(node)]
                left[key] -= 1
                if left[key] == 0:
                    bwd.append(self._norm_backward(key))
            elif fam is not None:  # a weight-matrix product: its chain rule runs batched (below)
                for key in (fam["pos"], fam["matrix"]):
                    left[key] -= 1
                lines = self._linear_x_side(fam["pos"]) if left[fam["pos"]] == 0 else []
                if left[fam["matrix"]] == 0:
                    lines += self._linear_w_side(fam["matrix"])
                if lines:
                    bwd.append(lines)
            elif node._children:
                bwd.append(self._backward(node))
        return fwd, bwd, info

    # -- weight-matrix products, batched ---------------------------------------------------
    # A Linear layer's output i at position t is dot(W[i], x_t): its chain rule adds
    # G_ti * x_t to W[i]'s gradient and G_ti * W[i] to x_t's. Done node by node that is
    # 2 * rows * T vector updates. Batched, once every output of the layer at position t
    # has its gradient: x_t += W^T G_t (one dot per input feature, over the rows); and
    # once every position is done: W[i] += sum_t G_ti x_t (one dot per weight, over the
    # positions). The same products, summed in another order: equal to rounding.
    def _linear_families(self) -> Dict[int, dict]:
        """{id(dot node): its family} for the dot nodes of a parameter matrix times a
        vector: family = {"pos": (matrix, x), "matrix": matrix key}."""
        by_x: Dict[tuple, list] = {}
        for node in self.order:
            if node.op != "dot":
                continue
            full = self._full_dot(node)
            if not full:
                continue
            xs, ys, bias = full
            cells = [self.where.get(id(w)) for w in xs]
            if (None in cells or cells[-1] >= self.n_inputs or cells != list(range(cells[0], cells[0] + len(cells)))
                    or any(w in self.slots for w in xs) or (bias is not None and id(bias) not in self.where)):
                continue
            by_x.setdefault((tuple(map(id, ys)), bias is None), []).append((cells[0], node, ys, bias))
        families, self.matrices, self.positions = {}, {}, {}
        for (ykey, _), members in by_x.items():
            members.sort(key=lambda m: m[0])
            rows = tuple(m[0] for m in members)
            if len(set(rows)) != len(rows) or len(members) < 2:
                continue
            mkey = ("matrix", rows, len(members[0][2]), ykey[1] if False else members[0][3] is None)
            pkey = ("pos", mkey, ykey)
            self.positions[pkey] = members
            self.matrices.setdefault(mkey, []).append(pkey)
            for _, node, _, _ in members:
                families[id(node)] = {"pos": pkey, "matrix": mkey}
        return families

    def _gelu_vectors(self) -> Dict[int, tuple]:
        """{id(gelu node): key} for the gelu nodes that make up a whole vector x_t of a
        linear layer (the hidden layer of a FeedForward), reading a vector whose cells
        lie side by side: one line for all of them (`gelu_vector`)."""
        found = {}
        for members in self.positions.values():
            xs = members[0][2]
            if not all(x.op == "gelu" and len(x._children) == 1 for x in xs) or id(xs[0]) in found:
                continue
            ins = [x._children[0] for x in xs]
            if self._slice(xs) is None or self._slice(ins) is None or len({id(i) for i in ins}) != len(ins):
                continue
            key = ("gelu", tuple(map(id, xs)))
            self.gelu_nodes[key] = list(xs)
            found.update((id(x), key) for x in xs)
        return found

    def _gelu_forward(self, key) -> List[str]:
        xs = self.gelu_nodes[key]
        k = self._new_aux(key)
        return [f"y, aux[{k}] = gelu_vector({self._read([x._children[0] for x in xs])})",
                f"v[{self._slice(xs)}] = y"]

    def _gelu_backward(self, key) -> List[str]:
        xs = self.gelu_nodes[key]
        ins = [x._children[0] for x in xs]
        return [self._accumulate(ins, f"map(mul, aux[{self.aux_of[key]}], g[{self._slice(xs)}])")]

    def _norm_families(self) -> Dict[int, tuple]:
        """{id(layer_norm node): (mean node, rsqrt_var node)}: the outputs of one layer
        norm of one vector, whose chain rule runs as one block (`_norm_backward`)."""
        families, self.norms = {}, {}
        for node in self.order:
            if node.op == "layer_norm" and len(node._children) == 5:
                key = (id(node._children[1]), id(node._children[2]))
                self.norms.setdefault(key, []).append(node)
        for key, members in list(self.norms.items()):
            mu = members[0]._children[1]
            position = {id(x): i for i, x in enumerate(mu._children)}
            if (mu.op != "mean" or len(position) != len(mu._children) or len(members) != len(position)
                    or any(id(m._children[0]) not in position for m in members)):
                del self.norms[key]
                continue
            members.sort(key=lambda m: position[id(m._children[0])])
            families.update((id(m), key) for m in members)
        return families

    def _norm_forward(self, key) -> List[str]:
        """y_i = (x_i - mu) r gamma_i + beta_i for every i at once, as fused.layer_norm."""
        members = self.norms[key]
        xs, gammas, betas = ([m._children[j] for m in members] for j in (0, 3, 4))
        mu, r = (self._val(members[0]._children[j]) for j in (1, 2))
        return [f"mu, r = {mu}, {r}",
                f"v[{self._slice(members)}] = [(x - mu) * r * gm + b for x, gm, b in "
                f"zip({self._read(xs)}, {self._read(gammas)}, {self._read(betas)})]"]

    def _norm_backward(self, key) -> List[str]:
        """y_i = (x_i - mu) r gamma_i + beta_i for every i at once: the local derivatives
        of each output, as fused.layer_norm has them, times G_i, summed per child."""
        members = self.norms[key]
        xs, gammas, betas = ([m._children[j] for m in members] for j in (0, 3, 4))
        mu, r = (self._val(members[0]._children[j]) for j in (1, 2))
        outs = [self.where[id(m)] for m in members]
        return [f"Gs = {self._gather('g', outs)}", f"gm = {self._read(gammas)}",
                f"cs = [x - {mu} for x in {self._read(xs)}]",
                self._accumulate(xs, f"[gd * {r} * G for gd, G in zip(gm, Gs)]"),
                f"{self._grad(members[0]._children[1])} += sum([-gd * {r} * G for gd, G in zip(gm, Gs)])",
                f"{self._grad(members[0]._children[2])} += sum([gd * c * G for gd, c, G in zip(gm, cs, Gs)])",
                self._accumulate(gammas, f"[c * {r} * G for c, G in zip(cs, Gs)]"),
                self._accumulate(betas, "Gs")]

    def _gather(self, array: str, cells: Sequence[int]) -> str:
        """An expression for array[c] for each cell, as a sequence."""
        if len(cells) > 1 and all(b - a == 1 for a, b in zip(cells, cells[1:])):
            return f"{array}[{cells[0]}:{cells[-1] + 1}]"
        if len(cells) <= 4:
            return "(" + ", ".join(f"{array}[{c}]" for c in cells) + ",)"
        name = f"take{len(self.constants)}"
        self.constants[name] = itemgetter(*cells)
        return f"{name}({array})"

    def _weight_rows(self, mkey) -> Tuple[List[str], str]:
        """(lines, expression): the matrix's rows as lists, sliced once per run."""
        if mkey in self.aux_of:
            return [], f"aux[{self.aux_of[mkey]}]"
        k = self._new_aux(mkey)
        rows, n = mkey[1], mkey[2]
        if self._even(rows):
            src = f"range({rows[0]}, {rows[-1] + 1}, {rows[1] - rows[0]})"
        else:
            src = f"rows{len(self.constants)}"
            self.constants[src] = rows
        return [f"aux[{k}] = [v[r:r + {n}] for r in {src}]"], f"aux[{k}]"

    def _loop_layout(self, pkey) -> Optional[Tuple[int, int, int, int, int, int, int]]:
        """(first weight cell, row stride, n_in, first x cell, first output cell, n_out,
        first bias cell or -1) when the layer's cells allow `linear_rows`, else None."""
        if not self.loops:
            return None
        members = self.positions[pkey]
        rows, n = pkey[1][1], pkey[1][2]
        stride = rows[1] - rows[0] if len(rows) > 1 else n
        if any(b - a != stride for a, b in zip(rows, rows[1:])) or stride < n:
            return None
        cells = []
        for nodes in (members[0][2], [m[1] for m in members]) + (() if members[0][3] is None
                                                                   else ([m[3] for m in members],)):
            if any(x in self.slots for x in nodes):
                return None
            idx = [self.where[id(x)] for x in nodes]
            if idx != list(range(idx[0], idx[0] + len(idx))):
                return None
            cells.append(idx[0])
        return rows[0], stride, n, cells[0], cells[1], len(members), cells[2] if len(cells) > 2 else -1

    def _linear_forward(self, pkey) -> List[str]:
        """y_i = (b_i +) W[i] . x for every row i of the matrix at once, as fused.linear."""
        layout = self._loop_layout(pkey)
        if layout is not None:
            return ["linear_rows(v, %d, %d, %d, %d, %d, %d, %d)" % layout]
        members = self.positions[pkey]
        lines, rows = self._weight_rows(pkey[1])
        x = self._read(members[0][2])
        if members[0][3] is None:
            values = f"[{self._sop('w', 'x')} for w in {rows}]"
        else:
            values = f"[b + {self._sop('w', 'x')} for w, b in zip({rows}, {self._read([m[3] for m in members])})]"
        outs = [m[1] for m in members]
        target = self._slice(outs)
        if target is not None:
            return lines + [f"x = {x}", f"v[{target}] = {values}"]
        cells = "(" + ", ".join(self._ix(o) for o in outs) + ",)"
        return lines + [f"x = {x}", f"for i, y in zip({cells}, {values}): v[i] = y"]

    def _linear_x_side(self, pkey) -> List[str]:
        """x_t's gradient once every output at t has its own: x_t += W^T G_t (and the
        biases': b += G_t)."""
        layout = self._loop_layout(pkey)
        if layout is not None:
            return ["linear_x_grad(v, g, %d, %d, %d, %d, %d, %d, %d)" % layout]
        members = self.positions[pkey]
        mkey = pkey[1]
        lines = []
        tkey = ("transposed", mkey)
        if tkey not in self.aux_of:  # W transposed, once per run: its columns, as tuples
            more, rows_expr = self._weight_rows(mkey)
            lines += more + [f"aux[{self._new_aux(tkey)}] = list(zip(*{rows_expr}))"]
        outs = [self.where[id(node)] for _, node, _, _ in members]
        ys = members[0][2]
        lines.append(f"Gs = {self._gather('g', outs)}")
        lines.append(self._accumulate(ys, f"[{self._sop('col', 'Gs')} for col in aux[{self.aux_of[tkey]}]]"))
        if members[0][3] is not None:
            lines.append(self._accumulate([m[3] for m in members], "Gs"))
        return lines

    @staticmethod
    def _even(cells: Sequence[int]) -> bool:
        return len(cells) > 1 and cells[1] > cells[0] and all(b - a == cells[1] - cells[0]
                                                               for a, b in zip(cells, cells[1:]))

    def _linear_w_side(self, mkey) -> List[str]:
        """W[i] += sum_t G_ti x_t needs only the x_t and the G_ti, all final by now: the
        line sets them aside in `ACC`, and `program.add_weight_grads` sums the products once
        per batch, over every position of every sequence in it (long dots, few calls)."""
        pkeys = self.matrices[mkey]
        xs = [self._read(self.positions[p][0][2]) for p in pkeys]
        takes = tuple(take([self.where[id(self.positions[p][i][1])] for p in pkeys]) for i in range(len(mkey[1])))
        name = f"W{len(self.constants)}"
        self.constants[name], self.constants[name + "_G"] = mkey, takes
        return [f"ACC.setdefault({name}, []).append((list(zip({', '.join(xs)})), [take(g) for take in {name}_G]))"]

    def _note(self, text: str) -> str:
        return f"  # {text}" if text else ""

    def _forward(self, node: Value) -> List[str]:
        """The line(s) computing the node's value, with the engine's formula."""
        op, ch = node.op, node._children
        out = self._val(node)
        a = self._val(ch[0], node, 0)
        b = self._val(ch[1], node, 1) if len(ch) > 1 else None
        note = ""
        if self.names:
            args = ", ".join(self.names[id(x)] for x in ch[:3]) + (", ..." if len(ch) > 3 else "")
            infix = {"+", "-", "*", "/", "**"}
            note = self._note(f"{self.names[id(node)]} = " + (
                f" {op} ".join(self.names[id(x)] for x in ch) if op in infix and len(ch) == 2
                else f"{op}({args})"))
        unary = {"neg": f"-{a}", "exp": f"exp({a})", "log": f"log({a})", "sqrt": f"sqrt({a})",
                 "tanh": f"tanh({a})", "relu": f"{a} if {a} > 0.0 else 0.0", "sigmoid": f"sigmoid({a})"}
        binary = {"+": f"{a} + {b}", "-": f"{a} - {b}", "*": f"{a} * {b}", "/": f"{a} / {b}",
                  "**": f"vpow({a}, {b})"}
        if op in unary and len(ch) == 1:
            return [f"{out} = {unary[op]}" + note]
        if op in binary and len(ch) == 2:
            return [f"{out} = {binary[op]}" + note]
        if op.startswith("**") and len(ch) == 1:
            return [f"{out} = powr({a}, {self._exponent(node)!r})" + note]
        if op == "gelu" and len(ch) == 1:
            return [f"{out}, aux[{self._new_aux(id(node))}] = gelu({a})" + note]
        if op == "layer_norm" and len(ch) == 5:
            x, mu, r, gm, bt = (self._val(c) for c in ch)
            return [f"{out} = ({x} - {mu}) * {r} * {gm} + {bt}" + note]
        return self._forward_nary(node, out, note)

    def _forward_nary(self, node: Value, out: str, note: str) -> List[str]:
        op, ch = node.op, node._children
        if op == "sum":
            return [f"{out} = sum({self._read(ch)})" + note]
        if op == "dot":
            return [f"{out} = {self._dot_expr(node)}" + note]
        if op == "mean":
            return [f"{out} = sum({self._read(ch)}) * {1.0 / len(ch)!r}" + note]
        if op == "logsumexp":
            return [f"{out}, aux[{self._new_aux(id(node))}] = logsumexp({self._read(ch)})" + note]
        if op == "rsqrt_var":
            k = self._new_aux(id(node))
            return [f"{out}, aux[{k}] = rsqrt_var({self._read(ch)}, {self._eps(node)!r})" + note]
        if op == "softmax":
            key = ("softmax", tuple(map(id, ch)))
            lines = [] if key in self.aux_of else [f"aux[{self._new_aux(key)}] = softmax({self._read(ch)})"]
            return lines + [f"{out} = aux[{self.aux_of[key]}][{self._softmax_index(node)}]" + note]
        if op == "attend":
            n = len(ch) // 2
            key = ("attend", tuple(map(id, ch[:n])))
            lines = []
            if key not in self.aux_of:  # the softmax weights, once for all features of the row
                scale = self._attend_scale(node)
                lines.append(f"aux[{self._new_aux(key)}] = softmax({self._read(ch[:n])}, {scale!r})")
            return lines + [f"{out} = {self._sop(f'aux[{self.aux_of[key]}]', self._read(ch[n:]))}" + note]
        raise CompileError(f"the compiler does not know the operation {op!r} "
                           f"(a node with {len(ch)} children)")

    def _backward(self, node: Value) -> List[str]:
        """The chain rule into the node's children: g[child] += local * g[node], the
        local derivative written with the engine's formula."""
        op, ch = node.op, node._children
        G, out = self._grad(node), self._val(node)
        a = self._val(ch[0], node, 0)
        b = self._val(ch[1], node, 1) if len(ch) > 1 else None
        scalar = {
            "+": ["1.0", "1.0"], "-": ["1.0", "-1.0"], "*": [b, a],
            "/": [f"(1.0 / {b})", f"(-{out} / {b})"], "**": [f"({b} * {out} / {a})", f"({out} * log({a}))"],
            "neg": ["-1.0"], "exp": [out], "log": [f"(1.0 / {a})"], "tanh": [f"(1.0 - {out} * {out})"],
            "relu": [f"(1.0 if {a} > 0.0 else 0.0)"], "sigmoid": [f"({out} * (1.0 - {out}))"],
            "sqrt": [f"(0.5 / {out} if {out} != 0.0 else copysign(inf, {out}))"],
        }
        locals_ = scalar.get(op)
        if locals_ is None and op.startswith("**") and len(ch) == 1:
            locals_ = [f"pow_local({a}, {self._exponent(node)!r}, {out})"]
        elif locals_ is None and op == "gelu" and len(ch) == 1:
            locals_ = [f"aux[{self.aux_of[id(node)]}]"]
        if locals_ is not None and len(locals_) == len(ch):
            lines = []
            for i, (child, local) in enumerate(zip(ch, locals_)):
                note = ""
                if self.names:
                    cn, pn = self.names[id(child)], self.names[id(node)]
                    note = self._note(f"{cn}.grad += ∂{pn}/∂{cn} * {pn}.grad")
                lines.append(f"{self._grad(child, node, i)} += {local} * {G}" + note)
            return lines
        note = self._note(f"into the children of {self.names[id(node)]}" if self.names else "")
        if op == "layer_norm" and len(ch) == 5:
            x, mu, r, gm, bt = ch
            xv, muv, rv, gv = (self._val(c) for c in (x, mu, r, gm))
            return [f"G = {G}" + note, f"cd = {xv} - {muv}",
                    f"{self._grad(x)} += {gv} * {rv} * G",
                    f"{self._grad(mu)} += -{gv} * {rv} * G",
                    f"{self._grad(r)} += {gv} * cd * G",
                    f"{self._grad(gm)} += cd * {rv} * G",
                    f"{self._grad(bt)} += 1.0 * G"]
        return [f"G = {G}" + note] + self._backward_nary(node, out)

    def _backward_nary(self, node: Value, out: str) -> List[str]:
        op, ch = node.op, node._children
        if op == "sum":
            return [self._accumulate(ch, f"[1.0 * G] * {len(ch)}")]
        if op == "mean":
            return [f"d = {1.0 / len(ch)!r} * G", self._accumulate(ch, f"[d] * {len(ch)}")]
        if op == "logsumexp":
            return [self._accumulate(ch, f"map(G.__mul__, aux[{self.aux_of[id(node)]}])")]
        if op == "rsqrt_var":
            k = self.aux_of[id(node)]
            return [f"r3n = {out} * {out} * {out} / {len(ch)}",
                    self._accumulate(ch, f"[-r3n * ci * G for ci in aux[{k}]]")]
        if op == "softmax":
            k = self.aux_of[("softmax", tuple(map(id, ch)))]
            return [self._accumulate(ch, f"softmax_local(aux[{k}], {self._softmax_index(node)}, G)")]
        if op == "attend":
            n = len(ch) // 2
            scores, column = ch[:n], ch[n:]
            k = self.aux_of[("attend", tuple(map(id, scores)))]
            scale = self._attend_scale(node)
            return [self._accumulate(scores, f"[{scale!r} * aj * (vj - {out}) * G for aj, vj in "
                                             f"zip(aux[{k}], {self._read(column)})]"),
                    self._accumulate(column, f"map(G.__mul__, aux[{k}])")]
        if op == "dot":
            full = self._full_dot(node)
            if full and len(full[0]) <= 4:  # short: one line per edge is faster than two maps
                xs, ys, bias = full
                edges = list(zip(xs, ys)) + list(zip(ys, xs))
                lines = [f"{self._grad(a)} += {self._val(b)} * G" for a, b in edges]
                if bias is not None:
                    lines.append(f"{self._grad(bias)} += 1.0 * G")
                return lines
            if full:  # in the order of the children: xs, (a linear's bias,) ys, (a dot's bias)
                xs, ys, bias = full
                lines = [self._accumulate(xs, f"map(G.__mul__, {self._read(ys)})"),
                         self._accumulate(ys, f"map(G.__mul__, {self._read(xs)})")]
                if bias is not None:
                    lines.insert(1 if ch[len(xs)] is bias else 2, f"{self._grad(bias)} += 1.0 * G")
                return lines
            consts = tuple(node._local_grads)
            if len(ch) <= 4:
                return [f"{self._grad(x)} += {k!r} * G"
                        for i, (x, k) in enumerate(zip(ch, consts))]
            name = self._constant(consts)
            return [self._accumulate(ch, f"map(G.__mul__, {name})")]
        raise CompileError(f"the compiler does not know the operation {op!r}")

    # -- n-ary details ------------------------------------------------------------------
    def _sop(self, xs: str, ys: str) -> str:
        """A sum of products, added from the left as fused._sum_of_products adds (on
        PyPy too, where `sum(map(...))` in a kernel runs faster than a call of it)."""
        return f"sum(map(mul, {xs}, {ys}))"

    def _full_dot(self, node: Value) -> Optional[Tuple[tuple, tuple, Optional[Value]]]:
        """(xs, ys, bias or None) for a dot of Values only, whose local derivatives are
        ys, xs (and 1 for the bias): `fused.dot` puts the children as xs + ys (+ bias),
        `fused.linear` as weights + (bias,) + x. None for a dot with numbers in it,
        whose local derivatives are those numbers."""
        key = id(node)
        if key in self._dots:
            return self._dots[key]
        self._dots[key] = found = self._read_dot(node, self.batch_layers)
        return found

    @staticmethod
    def _read_dot(node: Value, prefer_values: bool = False):
        ch, loc = node._children, node._local_grads
        n = len(ch) // 2
        fits = []
        if n and len(ch) == 2 * n:
            layouts = [(0, n, None)]
        elif n:  # the bias last (fused.dot) or between the weights and x (fused.linear)
            layouts = [(0, n, 2 * n), (0, n + 1, n)]
        else:
            layouts = []
        for x0, y0, b in layouts:
            if b is not None and loc[b] != 1.0:
                continue
            if all(loc[x0 + i] == ch[y0 + i].data and loc[y0 + i] == ch[x0 + i].data for i in range(n)):
                fits.append((ch[x0:x0 + n], ch[y0:y0 + n], None if b is None else ch[b]))
        if not fits:
            return None
        # a dot with numbers in it has the numbers as its local derivatives, and its
        # value is sum(local * child): when that fits too, the graph does not say which
        numbers = fused._sum_of_products([c.data for c in ch], loc) == node.data
        if prefer_values:  # a model's dots are of Values (numbers appear in RoPE's only, never ambiguous)
            return fits[-1]  # the layout of fused.linear when both fit
        if numbers or len(fits) > 1:
            raise CompileError("a dot node can be read two ways where it was traced (its local derivatives "
                               "equal its children's values, as at 0 or 1): trace it with other values")
        return fits[0]

    def _dot_expr(self, node: Value) -> str:
        ch = node._children
        full = self._full_dot(node)
        if full:
            xs, ys, bias = full
            total = self._sop(self._read(xs), self._read(ys))
            return total if bias is None else f"{self._val(bias)} + {total}"
        consts = tuple(node._local_grads)
        # a dot with numbers in it: the numbers are its local derivatives
        expect = fused._sum_of_products([c.data for c in ch], consts)
        if expect != node.data:
            raise CompileError(f"a dot node mixes numbers in a way the compiler cannot read back "
                               f"(value {node.data!r}, recomputed {expect!r})")
        if len(ch) <= 4:
            return " + ".join(f"{self._val(x)} * {k!r}" for x, k in zip(ch, consts))
        return self._sop(self._read(ch), self._constant(consts))

    def _constant(self, values: tuple) -> str:
        key = ("const", values)
        if key not in self.aux_of:
            self.aux_of[key] = f"K{len([k for k in self.aux_of if k[0] == 'const'])}"
            self.constants[self.aux_of[key]] = values
        return self.aux_of[key]

    def _exponent(self, node: Value) -> float:
        """n of an `x ** n` node. Its op name has n to 6 digits only, so n is read back
        from the local derivative n x^(n-1) = n out / x, and checked against the node."""
        x, out, local = node._children[0].data, node.data, node._local_grads[0]
        candidates = []
        try:
            named = float(node.op[2:])
        except ValueError:
            named = None
        if named is not None and len(f"{named:g}".lstrip("-").replace(".", "").lstrip("0")) < 6:
            # a name shorter than 6 digits is the whole number (unless n is something like
            # 3.0000001): first, since the number read back below may be off by a rounding
            candidates.append(named)
        if x != 0.0 and out != 0.0:
            guess = local * x / out
            candidates += [float(f"{guess:.{k}g}") for k in range(1, 18)] + [guess]
        for n in candidates:
            try:
                if math.pow(x, n) == out and pow_local(x, n, out) == local:
                    return n
            except (ValueError, OverflowError, ZeroDivisionError):
                continue
        raise CompileError(f"cannot read the exponent of {node.op!r} back from the graph: traced at "
                           f"x = {x!r}, where other exponents give the same numbers; trace it at another x")

    def _softmax_index(self, node: Value) -> int:
        ch, loc, s = node._children, node._local_grads, node.data
        for i in range(len(ch)):
            if loc[i] == s - s * s and softmax([c.data for c in ch])[i] == s:
                return i
        raise CompileError("cannot tell which output of a softmax node this is")

    def _attend_scale(self, node: Value) -> float:
        """The `scale` of fused.attention_row, which the node does not keep: the hints
        first, then read back from its local derivatives d out/d score_j =
        scale a_j (v_j - out), or from its weights a = softmax(scale * scores);
        checked against both."""
        ch, loc = node._children, node._local_grads
        n = len(ch) // 2
        if n == 1:  # one score: its weight is 1 and its derivative 0 whatever the scale
            return (self.hinted_scales + self.scales + [1.0])[0]
        scores, column, out = [c.data for c in ch[:n]], [c.data for c in ch[n:]], node.data
        a = list(loc[n:])
        guesses = [loc[j] / (a[j] * (column[j] - out)) for j in range(n) if a[j] * (column[j] - out) != 0.0]
        j = max(range(1, n), key=lambda i: abs(scores[i] - scores[0]))
        if scores[j] != scores[0] and a[j] > 0 and a[0] > 0:
            guesses.append(math.log(a[j] / a[0]) / (scores[j] - scores[0]))
        candidates = list(self.hinted_scales) + list(self.scales)
        for guess in guesses[:3]:
            if guess > 0:
                candidates.append(1.0 / math.sqrt(round(1.0 / guess ** 2)))  # 1/sqrt(head_dim), most often
            candidates += [guess] + [float(f"{guess:.{k}g}") for k in range(1, 18)]
        for scale in candidates:
            if (softmax(scores, scale) == a
                    and all(scale * aj * (vj - out) == d for aj, vj, d in zip(a, column, loc[:n]))):
                if guesses or scores.count(scores[0]) != n or scale in self.hinted_scales:
                    # the numbers tell this scale apart, or the model says it is its scale
                    if scale not in self.scales:
                        self.scales.append(scale)
                    return scale
                break
        raise CompileError("cannot read the scale of an attention node back from the graph: every scale "
                           "gives the same numbers where it was traced (tied scores, equal values); "
                           "trace it with other values")

    def _eps(self, node: Value) -> float:
        """The eps of a layer norm's `rsqrt_var` node (not kept in the node): the hints
        first, then read back from its value; checked against the node."""
        xs = [c.data for c in node._children]
        candidates = list(self.epsilons)
        r = node.data
        _, c = rsqrt_var(xs, 1.0)
        var = fused._sum_of_products(c, c) * (1.0 / len(xs))
        guess = r ** -2 - var
        candidates += [1e-5, 1e-6, 1e-8, 1e-12] + [float(f"{guess:.{k}g}") for k in range(1, 18) if guess > 0]
        for eps in candidates:
            if rsqrt_var(xs, eps)[0] == r:
                if eps not in self.epsilons:
                    self.epsilons.append(eps)
                return eps
        raise CompileError("cannot read the eps of a layer norm back from the graph")


