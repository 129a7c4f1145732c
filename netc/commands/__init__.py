"""The CLI's commands beyond the core, listed explicitly; `netc/cli.py` adds them to its group.

Keep framework imports inside the command functions: `netc validate` imports every module here.
"""
from .check import check
from .diff import diff
from .embed import embed
from .export import export
from .graph import graph
from .table import table
from .train import evaluate, lesion, train
from .weights import weights

COMMANDS = [train, evaluate, lesion, embed, diff, check, weights, table, export, graph]
