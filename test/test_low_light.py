"""Low-light enhancement before detection: chosen from the frame's brightness, dark frames brightened (gamma when
very dark, CLAHE on luminance when dim), bright frames and mode off untouched, colours kept, mono supported."""
import cv2
import numpy as np
import pytest

from aria_nav.core.detection.low_light import CLAHE, GAMMA, NONE, LowLightConfig, LowLightEnhancer
from aria_nav.core.detection.synthetic import synthetic_scene


def scene(scale):
    return (synthetic_scene(np.random.default_rng(5), 352, 352).astype(np.float32) * scale).astype(np.uint8)


def mean_luminance(image):
    return float((cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image).mean())


def test_off_by_default_and_bright_frames_untouched():
    dark = scene(0.1)
    assert LowLightEnhancer()(dark) is dark
    bright = scene(1.0)
    assert mean_luminance(bright) > 70
    auto = LowLightEnhancer(LowLightConfig(mode="auto"))
    assert auto(bright) is bright and auto.last_method == NONE


@pytest.mark.parametrize("scale, method", [(0.12, GAMMA), (0.35, CLAHE)])
def test_auto_picks_the_method_from_brightness_and_brightens(scale, method):
    image = scene(scale)
    enhancer = LowLightEnhancer(LowLightConfig(mode="auto"))
    out = enhancer(image)
    assert enhancer.last_method == method, enhancer.last_mean
    assert out.shape == image.shape and out.dtype == np.uint8
    assert mean_luminance(out) > mean_luminance(image) + 10
    # local contrast (edges the detector needs) grows
    edges = lambda a: np.abs(np.diff(cv2.cvtColor(a, cv2.COLOR_RGB2GRAY).astype(float), axis=1)).mean()  # noqa: E731
    assert edges(out) > 1.3 * edges(image)


def test_clahe_keeps_colours_and_works_on_mono():
    image = scene(0.35)
    out = LowLightEnhancer(LowLightConfig(mode="clahe"))(image)
    hue_in = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)[..., 0].astype(int)
    hue_out = cv2.cvtColor(out, cv2.COLOR_RGB2HSV)[..., 0].astype(int)
    saturated = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)[..., 1] > 80
    assert np.median(np.abs(hue_in - hue_out)[saturated]) <= 3, "luminance only: hues stay"
    grey = image[..., 0].copy()
    assert mean_luminance(LowLightEnhancer(LowLightConfig(mode="gamma"))(grey)) > mean_luminance(grey) + 10


def test_unknown_mode_is_an_error():
    with pytest.raises(ValueError, match="low-light mode 'night'"):
        LowLightEnhancer(LowLightConfig(mode="night"))
