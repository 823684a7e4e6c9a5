"""Low-light enhancement before detection: chosen from the frame's brightness, dark frames brightened (gamma when
very dark, CLAHE on luminance when dim), bright frames and mode off untouched, colours kept, mono supported."""
import cv2
from sensor_msgs.msg import Image
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


def test_detector_node_enhances_dark_frames_before_detection(ros_domain, tmp_path):
    """The detector node with low_light:=auto: a dark frame is detected on after gamma, reported on /diagnostics
    with its cost; the published detections keep the frame's header."""
    import time

    from std_msgs.msg import Header
    from vision_msgs.msg import Detection2DArray

    from aria_nav import paths, topics
    from aria_nav.ros.conversions import array_to_image
    from aria_nav.ros.qos import result_qos, sensor_qos
    from ros_probe import NodeProcess, Probe, wait_until

    model = paths.models_dir() / "yolo11n_256.onnx"
    if not model.is_file():
        pytest.skip(f"{model} missing: run `aria-nav models build-test`")
    probe = Probe(ros_domain, "low_light_probe")
    probe.subscribe_diagnostics()
    probe.subscribe("detections", Detection2DArray, topics.DETECTIONS, result_qos())
    images = probe.publisher(Image, topics.RGB_IMAGE, sensor_qos())
    node = NodeProcess("detector", tmp_path, [f"model:={model}", "low_light:=auto"])
    try:
        dark = scene(0.12)
        sent = []

        def enhanced():
            if not sent or time.monotonic() - sent[-1] > 0.25:  # a few frames a second
                header = Header(frame_id=topics.RGB_FRAME, stamp=probe.node.get_clock().now().to_msg())
                images.publish(array_to_image(dark, "rgb8", header))
                sent.append(time.monotonic())
            return probe.status("detector", lambda v: v.get("low_light", "").startswith("gamma"))

        wait_until(enhanced, 120, lambda: f"low_light on the detector's diagnostics:\n{node.output()}", [node])
        values = probe.status("detector", lambda v: v.get("low_light", "").startswith("gamma"))
        assert float(values["low_light_ms_p50"]) > 0.0
        assert probe.count("detections") > 0
        assert probe.messages("detections")[0].header.frame_id == topics.RGB_FRAME
    finally:
        node.stop()
        probe.close()
