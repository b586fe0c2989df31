"""Batched image augmentation that runs on the training device.

Every sample of a batch draws its own parameters, and the whole batch is warped
with one ``grid_sample`` call, so augmentation costs a few kernel launches on a
GPU instead of per-image work in CPU loader workers.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class BatchAugment(nn.Module):
    """Per-sample random geometric and photometric augmentation of a batch.

    Input and output are float images in [0, 1], shape (n, c, h, w). Active only
    in training mode (or with ``forward(x, force=True)``, e.g. to draw two views
    for a validation loss); the identity in eval mode.

    Parameters
    ----------
    rotation : float, default=20
        Maximum absolute rotation in degrees (the authors' ContIG setting).
    hflip : bool, default=True
        Flip horizontally with probability 0.5.
    crop_scale : tuple of float or None, default=None
        ``(min, max)`` area fraction of a random resized crop (SimCLR uses
        ``(0.08, 1.0)``); ``None`` disables cropping.
    brightness, contrast, saturation : float, default=0.0
        Colour jitter strengths: factors drawn from ``[1 - s, 1 + s]``.
    hue : float, default=0.0
        Hue jitter: a rotation of the chroma plane (YIQ space, a cheap linear
        stand-in for an HSV hue shift) by a fraction of the colour circle drawn
        from ``[-hue, hue]`` (at most 0.5, as torchvision's ``ColorJitter``).
    feature_mask_p : float, default=0.0
        Flat (n, d) input only (the ``mlp`` encoder): each feature is replaced,
        with this probability, by the same feature of another random sample of
        the batch (SCARF-style corruption; Bahri et al., 2022).
    feature_noise : float, default=0.0
        Flat input only: standard deviation of Gaussian noise added to the
        features (in the [0, 1] input scale).
    jitter_p : float, default=1.0
        Probability that colour jitter is applied to a sample.
    grayscale_p : float, default=0.0
        Probability of converting a sample to grayscale.
    blur_p : float, default=0.0
        Probability of a Gaussian blur with sigma in ``blur_sigma``.
    blur_sigma : tuple of float, default=(0.1, 2.0)
        Range of the blur sigma, in pixels at 224 px (scaled with image size).

    Examples
    --------
    >>> import torch
    >>> aug = BatchAugment(rotation=20, brightness=0.1).train()
    >>> aug(torch.rand(4, 3, 16, 16)).shape
    torch.Size([4, 3, 16, 16])
    """

    def __init__(
        self,
        rotation: float = 20.0,
        hflip: bool = True,
        crop_scale=None,
        brightness: float = 0.0,
        contrast: float = 0.0,
        saturation: float = 0.0,
        jitter_p: float = 1.0,
        grayscale_p: float = 0.0,
        blur_p: float = 0.0,
        blur_sigma=(0.1, 2.0),
        hue: float = 0.0,
        feature_mask_p: float = 0.0,
        feature_noise: float = 0.0,
    ):
        super().__init__()
        self.rotation = float(rotation)
        self.hflip = bool(hflip)
        self.crop_scale = None if crop_scale is None else tuple(float(s) for s in crop_scale)
        self.brightness = float(brightness)
        self.contrast = float(contrast)
        self.saturation = float(saturation)
        self.jitter_p = float(jitter_p)
        self.grayscale_p = float(grayscale_p)
        self.blur_p = float(blur_p)
        self.blur_sigma = tuple(float(s) for s in blur_sigma)
        if not 0.0 <= hue <= 0.5:
            raise ValueError(f"hue must be in [0, 0.5], got {hue}")
        self.hue = float(hue)
        self.feature_mask_p = float(feature_mask_p)
        self.feature_noise = float(feature_noise)

    def split(self) -> tuple[BatchAugment, BatchAugment | None]:
        """``(geometric, photometric)`` parts, e.g. to warp masks with the images.

        The geometric part (rotation, flip, crop) can be applied to images and
        masks stacked along the channels; the photometric part (colour jitter,
        grayscale, blur) to the images alone; it is None when there is none.
        """
        geo = BatchAugment(rotation=self.rotation, hflip=self.hflip, crop_scale=self.crop_scale)
        if not (self.brightness or self.contrast or self.saturation or self.hue or self.grayscale_p or self.blur_p):
            return geo, None
        photo = BatchAugment(
            rotation=0.0, hflip=False, brightness=self.brightness, contrast=self.contrast,
            saturation=self.saturation, jitter_p=self.jitter_p, grayscale_p=self.grayscale_p,
            blur_p=self.blur_p, blur_sigma=self.blur_sigma, hue=self.hue,
        )
        return geo, photo

    def _uniform(self, n, low, high, like):
        return torch.empty(n, device=like.device, dtype=torch.float32).uniform_(low, high)

    def _geometry(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        if self.rotation == 0 and not self.hflip and self.crop_scale is None:
            return x
        angle = self._uniform(n, -self.rotation, self.rotation, x) * (math.pi / 180.0)
        flip = torch.ones(n, device=x.device)
        if self.hflip:
            flip = torch.where(torch.rand(n, device=x.device) < 0.5, -flip, flip)
        sx = torch.ones(n, device=x.device)
        sy = torch.ones(n, device=x.device)
        tx = torch.zeros(n, device=x.device)
        ty = torch.zeros(n, device=x.device)
        if self.crop_scale is not None:
            area = self._uniform(n, *self.crop_scale, x)
            log_ratio = self._uniform(n, math.log(3 / 4), math.log(4 / 3), x)
            ratio = torch.exp(log_ratio)
            sx = torch.sqrt(area * ratio).clamp(max=1.0)
            sy = torch.sqrt(area / ratio).clamp(max=1.0)
            tx = (torch.rand(n, device=x.device) * 2 - 1) * (1 - sx)
            ty = (torch.rand(n, device=x.device) * 2 - 1) * (1 - sy)
        cos, sin = torch.cos(angle), torch.sin(angle)
        theta = torch.stack(
            [
                torch.stack([cos * sx * flip, -sin * sy, tx], dim=1),
                torch.stack([sin * sx * flip, cos * sy, ty], dim=1),
            ],
            dim=1,
        )  # (n, 2, 3): output grid -> input coordinates
        grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    def _colour(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        shape = (n, 1, 1, 1)
        apply = (torch.rand(shape, device=x.device) < self.jitter_p).to(x.dtype)
        if self.brightness > 0:
            b = self._uniform(n, 1 - self.brightness, 1 + self.brightness, x).view(shape)
            x = x * (1 + apply * (b - 1))
        if self.contrast > 0:
            c = self._uniform(n, 1 - self.contrast, 1 + self.contrast, x).view(shape)
            mean = x.mean(dim=(1, 2, 3), keepdim=True)
            x = mean + (x - mean) * (1 + apply * (c - 1))
        if self.saturation > 0 and x.shape[1] == 3:
            s = self._uniform(n, 1 - self.saturation, 1 + self.saturation, x).view(shape)
            gray = _gray(x)
            x = gray + (x - gray) * (1 + apply * (s - 1))
        if self.hue > 0 and x.shape[1] == 3:
            angle = self._uniform(n, -self.hue, self.hue, x) * (2 * math.pi) * apply.view(n)
            x = _rotate_hue(x, angle)
        if self.grayscale_p > 0 and x.shape[1] == 3:
            g = (torch.rand(shape, device=x.device) < self.grayscale_p).to(x.dtype)
            x = g * _gray(x).expand_as(x) + (1 - g) * x
        return x.clamp(0.0, 1.0)

    def _blur(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        scale = min(h, w) / 224.0
        sigma = self._uniform(n, *self.blur_sigma, x) * scale
        sigma = torch.where(torch.rand(n, device=x.device) < self.blur_p, sigma, torch.zeros_like(sigma))
        radius = max(1, int(math.ceil(3 * self.blur_sigma[1] * scale)))
        radius = min(radius, (min(h, w) - 1) // 2)
        if radius < 1:
            return x
        offsets = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
        kernel = torch.exp(-0.5 * (offsets[None] / sigma.clamp_min(1e-3)[:, None]) ** 2)
        kernel = torch.where(sigma[:, None] > 0, kernel, (offsets[None] == 0).to(x.dtype))
        kernel = kernel / kernel.sum(1, keepdim=True)  # (n, k)
        kernel = kernel.repeat_interleave(c, dim=0)  # (n*c, k)
        y = x.reshape(1, n * c, h, w)
        y = F.pad(y, (radius, radius, radius, radius), mode="reflect")
        y = F.conv2d(y, kernel[:, None, None, :], groups=n * c)
        y = F.conv2d(y, kernel[:, None, :, None], groups=n * c)
        return y.reshape(n, c, h, w)

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        if self.feature_mask_p > 0 and x.shape[0] > 1:
            n = x.shape[0]
            donor = (torch.arange(n, device=x.device)[:, None] + torch.randint(1, n, x.shape, device=x.device)) % n
            swap = torch.rand(x.shape, device=x.device) < self.feature_mask_p
            x = torch.where(swap, x.gather(0, donor), x)
        if self.feature_noise > 0:
            x = x + self.feature_noise * torch.randn_like(x)
        return x

    def forward(self, x: torch.Tensor, force: bool = False) -> torch.Tensor:
        """Augment ``x`` (training mode or ``force=True``); otherwise return it as is."""
        if not (self.training or force):
            return x
        if x.ndim == 2:
            return self._features(x)
        if x.ndim != 4:
            return x
        x = self._geometry(x)
        if self.brightness or self.contrast or self.saturation or self.hue or self.grayscale_p:
            x = self._colour(x)
        if self.blur_p > 0:
            x = self._blur(x)
        return x


def _gray(x: torch.Tensor) -> torch.Tensor:
    w = torch.tensor([0.299, 0.587, 0.114], device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)


# RGB <-> YIQ (NTSC); a hue shift is a rotation of the (I, Q) chroma plane.
_RGB2YIQ = ((0.299, 0.587, 0.114), (0.596, -0.274, -0.322), (0.211, -0.523, 0.312))


def _rotate_hue(x: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Rotate the hue of each image of ``x`` (n, 3, h, w) by ``angle`` (n,) radians."""
    to_yiq = torch.tensor(_RGB2YIQ, device=x.device, dtype=torch.float32)
    cos, sin = torch.cos(angle.float()), torch.sin(angle.float())
    one, zero = torch.ones_like(cos), torch.zeros_like(cos)
    rot = torch.stack(
        [
            torch.stack([one, zero, zero], dim=1),
            torch.stack([zero, cos, -sin], dim=1),
            torch.stack([zero, sin, cos], dim=1),
        ],
        dim=1,
    )  # (n, 3, 3)
    mat = torch.linalg.inv(to_yiq) @ rot @ to_yiq  # (n, 3, 3), RGB -> RGB
    return torch.einsum("nij,njhw->nihw", mat.to(x.dtype), x)
