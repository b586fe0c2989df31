"""Pickling of fitted estimators that wrap a skorch net."""

from __future__ import annotations

import copy


def state_without_optimizer(estimator) -> dict:
    """``estimator.__dict__`` with the net's optimizer state left out.

    A fitted estimator pickles for inference: Adam's moment estimates are twice
    the size of the weights. Resuming a fit goes through checkpoints instead.
    """
    state = estimator.__dict__.copy()
    net = state.get("net_")
    if net is not None and getattr(net, "optimizer_", None) is not None and net.optimizer_.state:
        net = copy.copy(net)
        net.initialize_optimizer()
        state["net_"] = net
    return state
