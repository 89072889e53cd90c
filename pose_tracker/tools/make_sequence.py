# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
Write a synthetic RGB-D test sequence (an unseen procedural object) in the YCBInEOAT layout.

    python -m pose_tracker.tools.make_sequence --out DIR [--frames 300] [--seed 1000]
        [--device cuda] [--size 480x640] [--motion both|camera|object]

See :mod:`pose_tracker.synth.sequence` for what is written and how it is drawn.
"""

import argparse
import sys

import torch

from pose_tracker.synth.sequence import generate_sequence
from pose_tracker.tools.cli_args import image_size


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser."""
    p = argparse.ArgumentParser(prog='python -m pose_tracker.tools.make_sequence',
                                description=__doc__.split('\n')[0])
    p.add_argument('--out', required=True)
    p.add_argument('--frames', type=int, default=300)
    p.add_argument('--seed', type=int, default=1000)
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--size', type=image_size, default=(480, 640), help='HxW, e.g. 480x640')
    p.add_argument('--motion', choices=('both', 'camera', 'object'), default='both')
    p.add_argument('--fps', type=float, default=30.0)
    p.add_argument('--batch', type=int, default=None, help='frames per render call')
    p.add_argument('--distractors', type=int, default=None)
    p.add_argument('--quiet', action='store_true')
    return p


def main(argv=None) -> dict:
    """Command-line entry point; returns the metadata written to ``meta.json``."""
    a = build_parser().parse_args(argv)
    return generate_sequence(a.out, a.frames, a.seed, a.device, a.size, a.motion, a.fps,
                             batch=a.batch, distractors=a.distractors, quiet=a.quiet)


if __name__ == '__main__':
    main()
    sys.exit(0)
