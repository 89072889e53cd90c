# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
RefineNet: the pose refiner, state-dict compatible with the FoundationPose refiner.

The network compares a rendered crop ``A`` (the object at the current pose) with the real crop
``B`` and predicts a translation and an axis-angle rotation update (``geometry.pose`` says how
the outputs move a pose). With the default arguments the module tree, parameter names and
shapes are exactly those of the released FoundationPose refiner (134 state-dict entries,
16,830,406 parameters), so its checkpoint loads with a strict ``load_state_dict``. Narrower
variants (for training from scratch or fast tests) change only the widths and the input size.

``inference_copy`` builds an eval-only twin for batch-1 tracking: BatchNorm folded into the
convolutions, half-precision weights, channels-last activations, cudnn conv+bias(+add)+ReLU
fusion on CUDA, both transformer heads merged into one batched chain, and no host
synchronisation, so it can be captured in a CUDA graph (measured speed: ``docs/timings.md``).
"""

import math
from typing import Sequence

import torch
from torch import nn
import torch.nn.functional as F

__all__ = [
    'OFFICIAL_ARCH',
    'ConvBNReLU',
    'ResnetBasicBlock',
    'PositionalEmbedding',
    'RefineNet',
    'token_grid_side',
    'inference_copy',
]

# Constructor arguments of the released FoundationPose refiner (run 2023-10-28-18-33-37).
OFFICIAL_ARCH = {
    'c_in': 6,
    'widths': [64, 128, 256, 512],
    'nhead': 4,
    'dim_feedforward': 512,
    'use_bn': True,
    'input_size': 160,
}

# (kernel, stride) of the three down-sampling convolutions: encodeA.0, encodeA.1, encodeAB.2.
_DOWNSAMPLING = ((7, 2), (3, 2), (3, 2))


def _conv_out_size(size: int, kernel: int, stride: int) -> int:
    """Return the output side of a convolution with 'same'-style padding ``(k-1)//2``."""
    pad = (kernel - 1) // 2
    return (size + 2 * pad - kernel) // stride + 1


def token_grid_side(input_size: int) -> int:
    """Return the token-grid side for a square input of ``input_size`` pixels (160 -> 20)."""
    side = int(input_size)
    for kernel, stride in _DOWNSAMPLING:
        side = _conv_out_size(side, kernel, stride)
    return side


class ConvBNReLU(nn.Module):
    """
    Conv2d (with bias) -> BatchNorm2d -> ReLU; padding ``(k-1)//2``.

    State-dict names: ``net.0`` (conv) and ``net.1`` (bn, only when ``use_bn``).
    """

    def __init__(self, c_in: int, c_out: int, kernel_size: int, stride: int, use_bn: bool = True):
        super().__init__()
        layers = [nn.Conv2d(c_in, c_out, kernel_size, stride, (kernel_size - 1) // 2, bias=True)]
        if use_bn:
            layers.append(nn.BatchNorm2d(c_out))
        layers.append(nn.ReLU(inplace=True))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(N,c_in,H,W)`` to ``(N,c_out,H',W')``."""
        return self.net(x)


class ResnetBasicBlock(nn.Module):
    """
    Residual block: conv3x3 -> bn1 -> ReLU -> conv3x3 -> bn2 -> + input -> ReLU.

    Both convolutions have a bias (as in the released refiner). Names: ``conv1``, ``bn1``,
    ``conv2``, ``bn2`` (no ``bn*`` when ``use_bn`` is false).
    """

    def __init__(self, channels: int, use_bn: bool = True):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, 1, 1, bias=True)
        self.bn1 = nn.BatchNorm2d(channels) if use_bn else nn.Identity()
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=True)
        self.bn2 = nn.BatchNorm2d(channels) if use_bn else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(N,C,H,W)`` to ``(N,C,H,W)``."""
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + x)


def sinusoidal_table(n_positions: int, dim: int) -> torch.Tensor:
    """
    Return the sinusoidal position table ``(1,n_positions,dim)`` float32.

    ``pe[p, 2i] = sin(p * exp(-2i ln(10000) / dim))`` and ``pe[p, 2i+1] = cos(...)`` (same
    frequency), the table stored in the released refiner's ``pos_embed.pe``.
    """
    pos = torch.arange(n_positions, dtype=torch.float64)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float64) * (-math.log(10000.0) / dim))
    table = torch.zeros(n_positions, dim, dtype=torch.float64)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq)[:, : dim // 2]
    return table.float()[None]


class PositionalEmbedding(nn.Module):
    """Add a fixed sinusoidal table (persistent buffer ``pe``) to a token sequence."""

    def __init__(self, dim: int, n_positions: int):
        super().__init__()
        self.register_buffer('pe', sinusoidal_table(n_positions, dim), persistent=True)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Map tokens ``(B,N,D)`` to ``tokens + pe[:, :N]`` (N up to the table length)."""
        return tokens + self.pe[:, : tokens.shape[1]].to(tokens.dtype)


def _make_head(d_model: int, nhead: int, dim_feedforward: int, dropout: float) -> nn.Sequential:
    """Return one output head: a post-norm ReLU transformer encoder layer, then Linear(d, 3)."""
    return nn.Sequential(
        nn.TransformerEncoderLayer(
            d_model, nhead, dim_feedforward, dropout=dropout, activation='relu',
            batch_first=True, norm_first=False),
        nn.Linear(d_model, 3),
    )


def _tokens(features: torch.Tensor) -> torch.Tensor:
    """
    Map features ``(B,C,h,w)`` to tokens ``(B,h*w,C)``, token ``p = row*w + col``.

    Permuting to NHWC first makes this a free view when the features are channels-last.
    """
    b, c, h, w = features.shape
    return features.permute(0, 2, 3, 1).reshape(b, h * w, c)


class RefineNet(nn.Module):
    """
    FoundationPose-style pose refiner: shared CNN encoder, CNN fusion, two transformer heads.

    Args:
        c_in: input channels per image (6: R,G,B,X,Y,Z).
        widths: output channels of ``(encodeA.0, encodeA.1, encodeAB blocks, encodeAB.2)``. The
            fusion stage sees the channel concat of both images, so ``widths[2]`` must equal
            ``2 * widths[1]``; ``widths[3]`` is the token dimension ``d_model``.
        nhead: attention heads of each transformer head (must divide ``widths[3]``).
        dim_feedforward: hidden width of the transformer feed-forward block.
        use_bn: BatchNorm2d after every convolution (the released refiner: true).
        input_size: side of the square input crops in pixels; sets the token grid
            (``token_grid_side``: 160 -> 20x20 = 400 tokens) and so the positional table.
        dropout: dropout of the transformer heads during training (0.1 = torch's default, which
            the released refiner was built with; no effect in eval mode).

        The defaults are the released refiner (``OFFICIAL_ARCH``). ``model.arch`` returns these
        arguments as a plain dict so checkpoints can record the architecture.

    """

    def __init__(
        self,
        c_in: int = 6,
        widths: Sequence[int] = (64, 128, 256, 512),
        nhead: int = 4,
        dim_feedforward: int = 512,
        use_bn: bool = True,
        input_size: int = 160,
        dropout: float = 0.1,
    ):
        super().__init__()
        widths = [int(w) for w in widths]
        if len(widths) != 4:
            raise ValueError(f'widths must have 4 entries, got {widths}')
        if widths[2] != 2 * widths[1]:
            raise ValueError(
                f'widths[2] must be 2*widths[1] (the channel concat of the two images), got '
                f'{widths}')
        if widths[3] % nhead != 0:
            raise ValueError(f'nhead={nhead} must divide the token dimension {widths[3]}')
        side = token_grid_side(input_size)
        if side < 1:
            raise ValueError(f'input_size {input_size} is too small')
        self._arch = {
            'c_in': int(c_in), 'widths': widths, 'nhead': int(nhead),
            'dim_feedforward': int(dim_feedforward), 'use_bn': bool(use_bn),
            'input_size': int(input_size), 'dropout': float(dropout),
        }
        w0, w1, w2, d_model = widths
        self.encodeA = nn.Sequential(
            ConvBNReLU(c_in, w0, 7, 2, use_bn),
            ConvBNReLU(w0, w1, 3, 2, use_bn),
            ResnetBasicBlock(w1, use_bn),
            ResnetBasicBlock(w1, use_bn),
        )
        self.encodeAB = nn.Sequential(
            ResnetBasicBlock(w2, use_bn),
            ResnetBasicBlock(w2, use_bn),
            ConvBNReLU(w2, d_model, 3, 2, use_bn),
            ResnetBasicBlock(d_model, use_bn),
            ResnetBasicBlock(d_model, use_bn),
        )
        self.pos_embed = PositionalEmbedding(d_model, side * side)
        self.trans_head = _make_head(d_model, nhead, dim_feedforward, dropout)
        self.rot_head = _make_head(d_model, nhead, dim_feedforward, dropout)

    @property
    def arch(self) -> dict:
        """Return the constructor arguments as a fresh plain dict (lists, ints, floats, bools)."""
        arch = dict(self._arch)
        arch['widths'] = list(arch['widths'])
        return arch

    def forward(self, A: torch.Tensor, B: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """
        Predict the pose update for each (rendered, real) crop pair.

        Args:
            A: rendered crops ``(B,c_in,S,S)``: RGB in [0,1] and normalised XYZ (contract).
            B: real crops, same shape and layout as ``A``.

        Returns:
            ``(trans, rot)``, each ``(B,3)`` float32 whatever the compute precision (autocast or
            half weights): the raw translation output (times D/2 gives metres) and the raw
            axis-angle output (before tanh and ``rot_normalizer``).

        """
        bs = A.shape[0]
        # The encoder weights set the compute dtype, so a .half() model accepts float32 crops.
        dtype = self.encodeA[0].net[0].weight.dtype
        # One shared encoder pass over both images (batch 2B) as in the released refiner.
        x = self.encodeA(torch.cat([A, B], dim=0).to(dtype))
        x = self.encodeAB(torch.cat([x[:bs], x[bs:]], dim=1))
        tokens = self.pos_embed(_tokens(x))
        trans = self.trans_head(tokens).mean(dim=1)
        rot = self.rot_head(tokens).mean(dim=1)
        return trans.float(), rot.float()


# --------------------------------------------------------------------------------------------
# Inference copy
# --------------------------------------------------------------------------------------------

def _fold_conv_bn(conv: nn.Conv2d, bn: nn.Module, dtype: torch.dtype) -> nn.Conv2d:
    """
    Return a new Conv2d equal to ``bn(conv(x))`` in eval mode, weights cast to ``dtype``.

    The fold is computed in float64 so the only rounding is the final cast.
    """
    weight = conv.weight.detach().double()
    bias = (conv.bias.detach().double() if conv.bias is not None
            else torch.zeros(conv.out_channels, dtype=torch.float64, device=weight.device))
    if isinstance(bn, nn.BatchNorm2d):
        scale = bn.weight.detach().double() / torch.sqrt(bn.running_var.detach().double() + bn.eps)
        weight = weight * scale[:, None, None, None]
        bias = (bias - bn.running_mean.detach().double()) * scale + bn.bias.detach().double()
    folded = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                       conv.padding, conv.dilation, conv.groups, bias=True,
                       device=weight.device, dtype=dtype)
    with torch.no_grad():
        folded.weight.copy_(weight)
        folded.bias.copy_(bias)
    return folded


def _conv_relu(conv: nn.Conv2d, x: torch.Tensor, fused: bool) -> torch.Tensor:
    """Return ``relu(conv(x))``; one cudnn kernel (conv + bias + ReLU) when ``fused`` on CUDA."""
    if fused and x.is_cuda:
        return torch.cudnn_convolution_relu(x, conv.weight, conv.bias, conv.stride, conv.padding,
                                            conv.dilation, conv.groups)
    return torch.relu(conv(x))


def _conv_add_relu(conv: nn.Conv2d, x: torch.Tensor, skip: torch.Tensor,
                   fused: bool) -> torch.Tensor:
    """Return ``relu(conv(x) + skip)``; one cudnn kernel when ``fused`` on CUDA."""
    if fused and x.is_cuda:
        return torch.cudnn_convolution_add_relu(x, conv.weight, skip, 1.0, conv.bias,
                                                conv.stride, conv.padding, conv.dilation,
                                                conv.groups)
    return torch.relu(conv(x) + skip)


class _FoldedConvReLU(nn.Module):
    """``relu(conv(x))`` with BatchNorm already folded into ``conv``."""

    def __init__(self, block: ConvBNReLU, dtype: torch.dtype):
        super().__init__()
        bn = block.net[1] if isinstance(block.net[1], nn.BatchNorm2d) else None
        self.conv = _fold_conv_bn(block.net[0], bn, dtype)
        self.cudnn_fused = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _conv_relu(self.conv, x, self.cudnn_fused)


class _FoldedBasicBlock(nn.Module):
    """Residual block with BatchNorm folded into both convolutions."""

    def __init__(self, block: ResnetBasicBlock, dtype: torch.dtype):
        super().__init__()
        self.conv1 = _fold_conv_bn(block.conv1, block.bn1, dtype)
        self.conv2 = _fold_conv_bn(block.conv2, block.bn2, dtype)
        self.cudnn_fused = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = _conv_relu(self.conv1, x, self.cudnn_fused)
        return _conv_add_relu(self.conv2, out, x, self.cudnn_fused)


def _fold_stage(stage: nn.Sequential, dtype: torch.dtype) -> nn.Sequential:
    layers = []
    for module in stage:
        if isinstance(module, ConvBNReLU):
            layers.append(_FoldedConvReLU(module, dtype))
        else:
            layers.append(_FoldedBasicBlock(module, dtype))
    return nn.Sequential(*layers)


class _MergedHeads(nn.Module):
    """
    Both output heads (trans, rot) evaluated as one batched chain, eval mode only.

    The two heads read the same tokens with separate weights. Attention heads are independent,
    so both layers' self-attention is one multi-head attention with ``2*nhead`` heads on a
    concatenated QKV projection; the other linear maps run as batched matmuls over a leading
    "which head" axis of size 2. Half the kernel launches of two separate layers, the same
    mathematics (post-norm, ReLU, no dropout). The final Linear commutes with the token mean, so
    the mean comes first (400x fewer rows).
    """

    def __init__(self, trans_head: nn.Sequential, rot_head: nn.Sequential, dtype: torch.dtype):
        super().__init__()
        layers = [trans_head[0], rot_head[0]]
        outs = [trans_head[1], rot_head[1]]
        self.nhead = layers[0].self_attn.num_heads
        self.eps = layers[0].norm1.eps

        def cat0(get):
            return torch.cat([get(m).detach() for m in layers], dim=0).to(dtype)

        def stack_t(get, mods):
            # (2, in, out): transposed weights for baddbmm(bias, x, W^T).
            return torch.stack([get(m).detach().t() for m in mods], dim=0).to(dtype).contiguous()

        def stack_b(get, mods):
            return torch.stack([get(m).detach() for m in mods], dim=0)[:, None].to(dtype)

        self.register_buffer('in_w', cat0(lambda m: m.self_attn.in_proj_weight))
        self.register_buffer('in_b', cat0(lambda m: m.self_attn.in_proj_bias))
        self.register_buffer('out_w', stack_t(lambda m: m.self_attn.out_proj.weight, layers))
        self.register_buffer('out_b', stack_b(lambda m: m.self_attn.out_proj.bias, layers))
        self.register_buffer('ff1_w', stack_t(lambda m: m.linear1.weight, layers))
        self.register_buffer('ff1_b', stack_b(lambda m: m.linear1.bias, layers))
        self.register_buffer('ff2_w', stack_t(lambda m: m.linear2.weight, layers))
        self.register_buffer('ff2_b', stack_b(lambda m: m.linear2.bias, layers))
        self.register_buffer('n1_w', stack_b(lambda m: m.norm1.weight, layers))
        self.register_buffer('n1_b', stack_b(lambda m: m.norm1.bias, layers))
        self.register_buffer('n2_w', stack_b(lambda m: m.norm2.weight, layers))
        self.register_buffer('n2_b', stack_b(lambda m: m.norm2.bias, layers))
        self.register_buffer('head_w', stack_t(lambda m: m.weight, outs))
        self.register_buffer('head_b', stack_b(lambda m: m.bias, outs))

    def _norm(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        # LayerNorm without affine, then one fused multiply-add with the per-head affine.
        x = F.layer_norm(x, x.shape[-1:], eps=self.eps)
        return torch.addcmul(bias, x, weight)

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Map tokens ``(B,N,D)`` to ``(trans, rot)`` each ``(B,3)`` in the tokens' dtype."""
        b, n, d = tokens.shape
        h = self.nhead
        hd = d // h
        qkv = F.linear(tokens, self.in_w, self.in_b)                     # (B,N,2*3*D)
        qkv = qkv.view(b, n, 2, 3, h, hd).permute(3, 0, 2, 4, 1, 5)      # (3,B,2,h,N,hd)
        qkv = qkv.reshape(3, b, 2 * h, n, hd)
        att = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])     # (B,2h,N,hd)
        att = att.view(b, 2, h, n, hd).permute(1, 0, 3, 2, 4).reshape(2, b * n, d)
        x = tokens.reshape(1, b * n, d)
        x = self._norm(x + torch.baddbmm(self.out_b, att, self.out_w), self.n1_w, self.n1_b)
        ff = torch.relu(torch.baddbmm(self.ff1_b, x, self.ff1_w))
        x = self._norm(x + torch.baddbmm(self.ff2_b, ff, self.ff2_w), self.n2_w, self.n2_b)
        pooled = x.view(2, b, n, d).mean(dim=2)                          # (2,B,D)
        out = torch.baddbmm(self.head_b, pooled, self.head_w)             # (2,B,3)
        return out[0], out[1]


class _InferenceRefineNet(nn.Module):
    """Eval-only RefineNet twin built by ``inference_copy``; same forward signature."""

    def __init__(self, model: RefineNet, dtype: torch.dtype, channels_last: bool):
        super().__init__()
        self.arch = model.arch
        self.dtype = dtype
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.encodeA = _fold_stage(model.encodeA, dtype)
        self.encodeAB = _fold_stage(model.encodeAB, dtype)
        if channels_last:
            self.encodeA.to(memory_format=torch.channels_last)
            self.encodeAB.to(memory_format=torch.channels_last)
        self.register_buffer('pe', model.pos_embed.pe.detach().to(dtype).clone())
        self.heads = _MergedHeads(model.trans_head, model.rot_head, dtype)

    def set_cudnn_fusion(self, enabled: bool) -> None:
        """Switch the fused cudnn conv(+add)+ReLU kernels on or off (CUDA inputs only)."""
        for module in self.modules():
            if isinstance(module, (_FoldedConvReLU, _FoldedBasicBlock)):
                module.cudnn_fused = bool(enabled)

    def forward(self, A: torch.Tensor, B: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Run the network; same contract as ``RefineNet.forward`` (float32 outputs)."""
        bs = A.shape[0]
        x = torch.cat([A, B], dim=0).to(dtype=self.dtype, memory_format=self.memory_format)
        x = self.encodeA(x)
        x = self.encodeAB(torch.cat([x[:bs], x[bs:]], dim=1))
        tokens = _tokens(x)
        tokens = tokens + self.pe[:, : tokens.shape[1]]
        trans, rot = self.heads(tokens)
        return trans.float(), rot.float()


def inference_copy(model: RefineNet, dtype: torch.dtype = torch.float16,
                   channels_last: bool = True, fuse_cudnn: bool | None = None) -> nn.Module:
    """
    Return an eval-mode copy of ``model`` built for fast, graph-capturable inference.

    BatchNorm (running statistics) is folded into the preceding convolutions, the weights are
    cast to ``dtype``, activations run in ``channels_last`` layout when asked, and the two heads
    run as one merged chain (``_MergedHeads``). The copy has the same forward signature and
    returns float32 ``(trans, rot)``; it casts float32 inputs itself. It holds no parameters
    that require grad, never synchronises with the host and keeps fixed shapes, so a forward can
    be captured in a CUDA graph (run a few warm-up calls first, e.g. for cudnn.benchmark).
    The copy lives on the device of ``model``; the original is left untouched.

    Args:
        model: a ``RefineNet`` (any width); its train/eval mode does not matter.
        dtype: weight and compute dtype: ``torch.float16`` for CUDA, ``torch.float32`` for CPU
            (half convolutions are slow or unsupported on CPU).
        channels_last: run convolutions in NHWC memory format (faster cudnn kernels).
        fuse_cudnn: on CUDA, run each convolution with its bias, ReLU and residual add as one
            cudnn kernel (``torch.cudnn_convolution_relu`` / ``..._add_relu``; faster, see
            ``docs/timings.md``). ``None`` (default): on when the
            model is on CUDA with cudnn enabled and a probe forward (batch 1, run here) succeeds.
            Ignored for CPU inputs.

    """
    if not isinstance(model, RefineNet):
        raise TypeError(f'inference_copy expects a RefineNet, got {type(model).__name__}')
    twin = _InferenceRefineNet(model, dtype, channels_last)
    twin.requires_grad_(False)
    twin.eval()
    device = model.pos_embed.pe.device
    if fuse_cudnn is None:
        fuse_cudnn = (device.type == 'cuda' and torch.backends.cudnn.is_available()
                      and torch.backends.cudnn.enabled)
        if fuse_cudnn:
            twin.set_cudnn_fusion(True)
            fuse_cudnn = _fusion_probe(twin, device)
    twin.set_cudnn_fusion(bool(fuse_cudnn))
    return twin


def _fusion_probe(twin: '_InferenceRefineNet', device: torch.device) -> bool:
    """Run one batch-1 forward with the fused cudnn kernels; False if cudnn rejects them."""
    size = twin.arch['input_size']
    crop = torch.zeros(1, twin.arch['c_in'], size, size, device=device)
    try:
        with torch.no_grad():
            twin(crop, crop)
        torch.cuda.synchronize(device)
    except RuntimeError:
        return False
    return True
