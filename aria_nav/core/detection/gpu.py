"""Letterbox and candidate selection on the device that runs the model (torch), for the GPU-resident path.

The same geometry as LetterboxInput (aria_nav.core.detection.letterbox), written straight into the model's bound
input buffer: the frame goes to the device once as uint8 (a quarter of the float bytes), is resized there
(bilinear, as cv2.INTER_LINEAR) and scaled to [0, 1]. After the model, only the candidates whose best class score
reaches the confidence threshold come back to the host, in output order, so decode() gives exactly the detections
it gives on the whole output.
"""
from __future__ import annotations

import numpy as np

from aria_nav.core.detection.letterbox import PAD_VALUE, Letterbox, LetterboxWriter


class DeviceLetterbox(LetterboxWriter):
    """Writes letterboxed RGB (H, W, 3) or grey (H, W) uint8 images into `target`, a (1, 3, H, W) torch tensor."""

    def __init__(self, target):
        import torch

        super().__init__(tuple(target.shape[2:]))
        self._torch = torch
        self.target = target

    def _fill_padding(self) -> None:
        self.target.fill_(PAD_VALUE / 255.0)

    def __call__(self, image: np.ndarray) -> Letterbox:
        torch = self._torch
        geometry = self._fit(image)
        frame = torch.from_numpy(np.ascontiguousarray(image)).to(self.target.device)
        planes = (frame[None] if image.ndim == 2 else frame.permute(2, 0, 1))[None].float()
        new_h, new_w = geometry.resized_hw
        if (new_h, new_w) != image.shape[:2]:
            planes = torch.nn.functional.interpolate(planes, size=(new_h, new_w), mode="bilinear",
                                                     align_corners=False)
        top, left = geometry.offset_yx
        # A grey plane broadcasts into the three channels.
        self.target[0, :, top:top + new_h, left:left + new_w].copy_(planes[0].mul_(1.0 / 255.0))
        return geometry


def confident_candidates(output, conf_threshold: float) -> np.ndarray:
    """The (1, 4 + C, k) host array of the columns of a (1, 4 + C, N) device output whose best class score is at
    least `conf_threshold`, in their original order."""
    import torch

    best = output[0, 4:].float().amax(dim=0)
    keep = torch.nonzero(best >= conf_threshold).squeeze(1)
    return output[:, :, keep].float().cpu().numpy()
