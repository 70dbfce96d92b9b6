"""minigpt: a scalar autograd engine, a small neural-network library, and a Mini-GPT.

Every number is a `Value`; every gradient comes from the chain rule applied node by
node. Start with `from minigpt import Value`.
"""
from .engine import (Value, dot, is_grad_enabled, is_primitive_mode, logsumexp, no_grad,
                     primitive_mode, softmax, topological_order, vsum)
from .gradcheck import GradcheckResult, gradcheck

__version__ = "0.1.0"

__all__ = [
    "Value", "vsum", "dot", "softmax", "logsumexp", "no_grad", "is_grad_enabled",
    "primitive_mode", "is_primitive_mode", "topological_order", "gradcheck", "GradcheckResult",
]
