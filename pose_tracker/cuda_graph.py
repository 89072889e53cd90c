# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
Capture of a static-buffer step into one CUDA graph (the tracker's frame, the registrar's chunk).

The step must read and write only preallocated tensors (its "static buffers"); replaying the
returned graph then re-runs it on whatever those buffers hold. See ``torch.cuda.graphs``.
"""

from typing import Callable, Optional

import torch


def capture_graph(body: Callable[[], None], device: torch.device, warmup: int = 3,
                  reset: Optional[Callable[[], None]] = None) -> torch.cuda.CUDAGraph:
    """
    Warm `body` up on a side stream, then capture it into a CUDA graph.

    The warm-up calls run outside the capture, as capture requires: they create the cuDNN /
    cuBLAS handles, run their autotuning and any `torch.compile` first call, and let the caching
    allocator settle. They run on a side stream, which the current stream then waits for.

    Args:
        body: the step; reads and writes only static buffers, never syncs with the host.
        device: the CUDA device of those buffers.
        warmup: number of warm-up calls before the capture.
        reset: called before each warm-up call, e.g. to put a pose buffer back to a pose the
            step can handle (the warm-up runs on whatever the buffers hold); None = nothing.

    Returns:
        The captured graph (`graph.replay()` re-runs `body`). The static buffers hold the
        result of one more run of `body` (the captured one does not execute).
    """
    stream = torch.cuda.Stream(device)
    stream.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(stream), torch.no_grad():
        for _ in range(warmup):
            if reset is not None:
                reset()
            body()
    torch.cuda.current_stream(device).wait_stream(stream)
    torch.cuda.synchronize(device)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph), torch.no_grad():
        body()
    return graph
