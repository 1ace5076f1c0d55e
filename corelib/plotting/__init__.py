"""Plotting: a model's graph (Graphviz) and the training curves of a run (matplotlib).

`model_plot` draws a model's layers and connections, `history_plot` the
loss and metric curves of a `History`. Both libraries are optional; each
function says which one to install when it is missing.
"""

from corelib.plotting.history_plot import check_matplotlib, plot_history
from corelib.plotting.model_plot import model_to_dot, plot_model

__all__ = ["check_matplotlib", "model_to_dot", "plot_history", "plot_model"]
