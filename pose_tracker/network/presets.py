# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
Named RefineNet sizes: the one place the tools and tests take network shapes from.

``widths`` are the channels of (encodeA.0, encodeA.1, encodeAB, d_model); see
:class:`pose_tracker.network.refinenet.RefineNet` for their constraints.
"""

from typing import Dict

from pose_tracker.network.refinenet import RefineNet

#: Training sizes: widths, feed-forward width, attention heads. No dropout: the training data
#: stream never repeats, and a short run needs every update. 'official' is the released
#: FoundationPose refiner's shape; 'small' is the shipped refiner's.
PRESETS: Dict[str, dict] = {
    'tiny': dict(widths=(8, 16, 32, 32), dim_feedforward=32, nhead=2, dropout=0.0),
    'small': dict(widths=(32, 64, 128, 256), dim_feedforward=256, nhead=4, dropout=0.0),
    'medium': dict(widths=(40, 80, 160, 320), dim_feedforward=320, nhead=4, dropout=0.0),
    'official': dict(widths=(64, 128, 256, 512), dim_feedforward=512, nhead=4, dropout=0.0),
}

#: A narrow random-weight network for fast CPU tests and soaks (the real network's graph shape,
#: eight times fewer channels).
NARROW: dict = dict(widths=(8, 16, 32, 64), nhead=2, dim_feedforward=64)


def build_preset(name: str) -> RefineNet:
    """Return a freshly initialised RefineNet of the named size (a key of :data:`PRESETS`)."""
    if name not in PRESETS:
        raise ValueError(f'unknown network size {name!r}; choose one of {sorted(PRESETS)}')
    return RefineNet(**PRESETS[name])


def parse_widths(text: str) -> RefineNet:
    """Return a freshly initialised RefineNet with comma-separated widths, e.g. '32,64,128,256'."""
    return RefineNet(widths=[int(w) for w in text.split(',')])
