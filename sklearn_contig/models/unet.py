"""U-Net decoder on the stages of a ResNet image encoder (segmentation)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: Channels of the skip features of each ResNet: stem (conv1-bn1-relu), layer1..layer4.
RESNET_STAGES = {"resnet18": (64, 64, 128, 256, 512), "resnet50": (64, 256, 512, 1024, 2048)}


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """U-Net (Ronneberger et al., 2015) whose contracting path is a ResNet encoder.

    Skip connections come from the ResNet stem (``conv1``/``bn1``/``relu``, 1/2
    resolution), ``layer1`` (1/4), ``layer2`` (1/8), ``layer3`` (1/16) and ``layer4``
    (1/32), plus a small convolution on the input itself so that boundaries are
    resolved at full resolution. Each decoder step upsamples (bilinear) to the next
    skip's size, concatenates and applies two 3x3 conv-BN-ReLU layers.

    Parameters
    ----------
    backbone : torchvision ResNet
        ``ImageEncoder.backbone`` of a ``"resnet18"`` or ``"resnet50"`` encoder;
        shared, not copied.
    name : {"resnet18", "resnet50"}
    in_channels : int
    out_channels : int, default=1
        Mask channels; the output holds one logit per channel and pixel.
    decoder_channels : tuple of 5 int, default=(256, 128, 64, 32, 16)

    Examples
    --------
    >>> import torch
    >>> from sklearn_contig.models import ImageEncoder, UNet
    >>> enc = ImageEncoder("resnet18")
    >>> net = UNet(enc.backbone, "resnet18", 3, out_channels=2).eval()
    >>> net(torch.zeros(1, 3, 32, 32)).shape
    torch.Size([1, 2, 32, 32])
    """

    def __init__(self, backbone, name, in_channels, out_channels=1, decoder_channels=(256, 128, 64, 32, 16)):
        super().__init__()
        if name not in RESNET_STAGES:
            raise ValueError(f"a U-Net needs a ResNet encoder {sorted(RESNET_STAGES)}, got {name!r}")
        if len(decoder_channels) != 5:
            raise ValueError(f"decoder_channels needs 5 entries, got {len(decoder_channels)}")
        self.backbone = backbone
        stem, l1, l2, l3, l4 = RESNET_STAGES[name]
        d4, d3, d2, d1, d0 = decoder_channels
        self.input_skip = nn.Sequential(
            nn.Conv2d(in_channels, d0, 3, padding=1, bias=False), nn.BatchNorm2d(d0), nn.ReLU(inplace=True)
        )
        self.up = nn.ModuleList(
            [
                _block(l4 + l3, d4),  # 1/16
                _block(d4 + l2, d3),  # 1/8
                _block(d3 + l1, d2),  # 1/4
                _block(d2 + stem, d1),  # 1/2
                _block(d1 + d0, d0),  # 1/1
            ]
        )
        self.out = nn.Conv2d(d0, out_channels, 1)

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Skip features, finest first: stem, layer1, ..., layer4."""
        b = self.backbone
        s0 = b.relu(b.bn1(b.conv1(x)))
        s1 = b.layer1(b.maxpool(s0))
        s2 = b.layer2(s1)
        s3 = b.layer3(s2)
        s4 = b.layer4(s3)
        return [s0, s1, s2, s3, s4]

    def decode(self, x: torch.Tensor, skips: list[torch.Tensor]) -> torch.Tensor:
        """Decoder only: logits from the input ``x`` and its :meth:`encode` skip features."""
        y = skips[-1]
        for block, skip in zip(self.up, (*skips[-2::-1], self.input_skip(x))):
            y = F.interpolate(y, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            y = block(torch.cat([y, skip.to(y.dtype)], dim=1))
        return self.out(y)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (n, c, h, w) -> (n, k, h, w)
        return self.decode(x, self.encode(x))
