"""minigpt: a scalar autograd engine, a small neural-network library, and a Mini-GPT.

Every number is a `Value`; every gradient comes from the chain rule applied node by
node. Start with `from minigpt import Value`.

    engine.py      Value and its operations, backward, no_grad
    fused.py       the fast path: the same helpers as single n-ary nodes
    functional.py  the helpers the layers use, and primitive_mode(), the switch between the two
    module.py      Module: parameters, names, state dicts
    nn.py          the layers;   gpt.py   the Mini-GPT, its loss and sampling
"""
from .engine import Value, dot, is_grad_enabled, logsumexp, no_grad, softmax, topological_order, vsum
from .functional import is_primitive_mode, primitive_mode
from .gradcheck import GradcheckResult, gradcheck

__version__ = "0.2.0"

__all__ = [
    "Value", "vsum", "dot", "softmax", "logsumexp", "no_grad", "is_grad_enabled",
    "primitive_mode", "is_primitive_mode", "topological_order", "gradcheck", "GradcheckResult",
]
