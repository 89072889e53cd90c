# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""What the command-line tools share: argument types, refinement options, the error exit."""

import argparse
import functools
import sys
from typing import Callable, Tuple

from pose_tracker.errors import PoseTrackerError


def image_size(text: str) -> Tuple[int, int]:
    """Parse an image size 'HxW' (pixels, both positive) for argparse, e.g. '480x640'."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be HxW, e.g. 480x640, got {text!r}")
    if h <= 0 or w <= 0:
        raise argparse.ArgumentTypeError(f"size must be positive, got {text!r}")
    return h, w


def add_refinement_args(parser: argparse.ArgumentParser) -> None:
    """Add the per-frame refinement options (network and depth iterations, ICP gates)."""
    g = parser.add_argument_group("refinement per frame")
    g.add_argument("--network-iterations", type=int, default=2,
                   help="RefineNet iterations per frame (0: no network)")
    g.add_argument("--icp-iterations", type=int, default=2,
                   help="depth refinement (point-to-plane ICP) iterations after the network "
                   "ones (0: network only, FoundationPose behaviour)")
    g.add_argument("--icp-gates", type=float, nargs=2, default=(0.03, 0.01),
                   metavar=("FIRST", "LAST"),
                   help="distance gate of the first and last ICP iteration, metres")


def refinement_kwargs(args: argparse.Namespace) -> dict:
    """`Tracker` keyword arguments of the options added by `add_refinement_args`."""
    return {"network_iterations": int(args.network_iterations),
            "icp_iterations": int(args.icp_iterations),
            "icp_gates": tuple(float(g) for g in args.icp_gates)}


def refinement_node_params(kwargs: dict) -> list:
    """Return the node's ``name:=value`` parameter overrides for `refinement_kwargs` output."""
    start, end = kwargs["icp_gates"]
    return [f"network_iterations:={int(kwargs['network_iterations'])}",
            f"icp_iterations:={int(kwargs['icp_iterations'])}",
            f"icp_gate_start:={float(start)!r}", f"icp_gate_end:={float(end)!r}"]


def exits_on_user_error(main: Callable[..., int]) -> Callable[..., int]:
    """
    Wrap a tool's ``main``: a `PoseTrackerError` becomes one line on stderr and exit status 2.

    PoseTrackerError is the project's "bad input, explained" error (missing mesh, unusable
    device, wrong sequence layout): its message says what to do, so a traceback would only
    bury it. Any other exception still propagates with its traceback (a bug).
    """
    @functools.wraps(main)
    def wrapped(*args, **kwargs) -> int:
        try:
            return main(*args, **kwargs)
        except PoseTrackerError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    return wrapped
