"""The interface packages set-up builds where ROS 2 comes from PyPI (tools/interfaces: tf2_msgs, vision_msgs) and the
project's own (aria_nav_msgs): every type's RIHS01 hash, as the middleware announces it for a real publisher, is the
upstream one, so these types connect to a ROS distribution's nodes and bags. A field of another name or type changes
the hash (and Fast DDS then does not connect the two)."""
import re
from pathlib import Path

import pytest
import rclpy
from rclpy.qos import QoSProfile

ROOT = Path(__file__).resolve().parents[1]

# Upstream hashes, and where each was read:
# - tf2_msgs: rosbags' ROS 2 Kilted typestore (Typestore.hash_rihs01 over its definitions of a real install);
# - vision_msgs: the rosidl-generated type descriptions of a real vision_msgs 4 build: the "type_hashes" of
#   install/vision_msgs/share/vision_msgs/msg/Detection2DArray.json and VisionClass.json in the public
#   repository borednuna/ipm-ws (commit 1d768272c24114f1004e19d0ef8118b73b9a2b68), and LabelInfo's from a
#   generated rosidl_generator_c label_info__description.c of a public colcon build tree.
UPSTREAM = {
    "tf2_msgs/msg/TFMessage": "RIHS01_e369d0f05a23ae52508854b66f6aa0437f3449d652e8cbf22d5abe85d020f087",
    "tf2_msgs/msg/TF2Error": "RIHS01_db2485e7d6a0ec75bf087e058ee45df682acc3a621ca7780503d10aac141809a",
    "vision_msgs/msg/Detection2DArray": "RIHS01_214274120007f4a683866481336b70310268cfa107aebe9d594a6acf75bda968",
    "vision_msgs/msg/Detection2D": "RIHS01_0d12b69df5c593b3455b7346fac8205437a7d4bcb09b9e0e0b2dde787ded38ea",
    "vision_msgs/msg/ObjectHypothesisWithPose":
        "RIHS01_41c12344c0396c48b81df12467c192d99b2a0eb1463c5c37194e4223251c80bc",
    "vision_msgs/msg/ObjectHypothesis": "RIHS01_51da43cec11c01957a64d1e05a24acd18aae7745ec30b74348ad5f6d634f7f90",
    "vision_msgs/msg/BoundingBox2D": "RIHS01_008eacbb0cf8f26e83795547bed013eec3675485ef386ec056d80eaaf1c1ce2f",
    "vision_msgs/msg/Pose2D": "RIHS01_b0b5d1d7b4c20dd4fcde3ed1d4b289a919290572007d67a97043814db25d3648",
    "vision_msgs/msg/Point2D": "RIHS01_eab0e83f44ab4de92ceaf76dd7d0e7638f2bdd1d16ffbe16c7a136c48e407247",
    "vision_msgs/msg/VisionClass": "RIHS01_1e4a11f0fed50b5623cb8ff26ca0e37952a48a9c074d16f804b44e9164c2037a",
    "vision_msgs/msg/LabelInfo": "RIHS01_3d37df4015cdf660cc851c51897f2acd957e1ca6205ba0a99aebffb9406b0783",
}
# The project's own types: changing one changes the topic contract (bags recorded before no longer match).
ARIA_NAV_MSGS = ("Obstacle", "ObstacleArray", "SpeechRequest", "Utterance")


def message_class(type_name: str):
    package, _, name = type_name.split("/")
    try:
        module = __import__(f"{package}.msg", fromlist=[name])
    except ImportError:
        pytest.skip(f"{package} is not built here (tools/setup.sh builds it)")
    return getattr(module, name)


def announced_hashes(type_names):
    """{type name: the RIHS01 hash the middleware announces for a publisher of that type}."""
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("interface_hashes", context=context)
    try:
        hashes = {}
        for i, type_name in enumerate(type_names):
            topic = f"/interface_hash_{i}"
            node.create_publisher(message_class(type_name), topic, QoSProfile(depth=1))
            (info,) = node.get_publishers_info_by_topic(topic)
            assert info.topic_type == type_name
            hashes[type_name] = str(info.topic_type_hash)
        return hashes
    finally:
        node.destroy_node()
        rclpy.shutdown(context=context)


def rosbags_hashes(package_dir: Path, package: str):
    """RIHS01 hashes of a package's .msg sources as an independent implementation (rosbags) computes them."""
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    store = get_typestore(Stores.ROS2_KILTED)
    types = {}
    for path in sorted((package_dir / "msg").glob("*.msg")):
        types.update(get_types_from_msg(path.read_text(), f"{package}/msg/{path.stem}"))
    store.register(types)
    return {name: store.hash_rihs01(name) for name in types}


def test_tf2_and_vision_msgs_hash_as_upstream(ros_domain):
    assert announced_hashes(UPSTREAM) == UPSTREAM


def test_the_definitions_written_here_are_the_upstream_ones():
    """The sources in tools/interfaces give the upstream hashes by an independent computation too (no build needed)."""
    computed = {}
    for package in ("tf2_msgs", "vision_msgs"):
        computed.update(rosbags_hashes(ROOT / "tools" / "interfaces" / package, package))
    assert computed == UPSTREAM


def test_aria_nav_msgs_hash_as_their_sources(ros_domain):
    names = [f"aria_nav_msgs/msg/{name}" for name in ARIA_NAV_MSGS]
    expected = rosbags_hashes(ROOT / "aria_nav_msgs", "aria_nav_msgs")
    assert sorted(expected) == sorted(names)
    assert announced_hashes(names) == expected
    assert all(re.fullmatch(r"RIHS01_[0-9a-f]{64}", h) for h in expected.values())
