"""Module surgery for DeepLift: one ReLU module per use in ResNet image encoders."""

from __future__ import annotations

import copy
import types

from torch import nn


def _relu_block_forward(self, x):
    """Forward of a torchvision BasicBlock/Bottleneck with one ReLU module per use."""
    identity = x if self.downsample is None else self.downsample(x)
    out = self.relu_1(self.bn1(self.conv1(x)))
    out = self.bn2(self.conv2(out))
    if hasattr(self, "conv3"):
        out = self.bn3(self.conv3(self.relu_2(out)))
        return self.relu_3(out + identity)
    return self.relu_2(out + identity)


def deeplift_safe(module: nn.Module) -> nn.Module:
    """Copy of ``module`` whose ReLUs are distinct, non-inplace modules.

    torchvision's ResNet blocks call one ``nn.ReLU`` several times per forward;
    DeepLift's module hooks then mix up the stored activations and fail. The
    copy gives every use its own ReLU (same function, same weights elsewhere).

    Examples
    --------
    >>> import torchvision
    >>> net = deeplift_safe(torchvision.models.resnet18(weights=None))
    >>> hasattr(net.layer1[0], "relu_2")
    True
    """
    from torchvision.models.resnet import BasicBlock, Bottleneck

    module = copy.deepcopy(module)
    for sub in list(module.modules()):
        for name, child in list(sub.named_children()):
            if isinstance(child, nn.ReLU) and child.inplace:
                setattr(sub, name, nn.ReLU())
        if isinstance(sub, (BasicBlock, Bottleneck)):
            sub.relu_1, sub.relu_2 = nn.ReLU(), nn.ReLU()
            if isinstance(sub, Bottleneck):
                sub.relu_3 = nn.ReLU()
            sub.forward = types.MethodType(_relu_block_forward, sub)
    return module


def with_deeplift_safe_image_encoder(module: nn.Module) -> nn.Module:
    """Shallow copy of a ContIG module whose image encoder is :func:`deeplift_safe`.

    The genetic encoders and heads are shared with ``module`` (they have one
    ReLU module per use already); only the image encoder is copied.
    """
    out = copy.copy(module)
    out._modules = dict(module._modules)
    out.image_encoder = deeplift_safe(module.image_encoder)
    return out
