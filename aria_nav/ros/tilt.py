"""The RGB camera's tilt in the gravity-aligned wearer frame as a geometry_msgs/TransformStamped (fusion's output)."""
from __future__ import annotations

from geometry_msgs.msg import TransformStamped
from std_msgs.msg import Header

from aria_nav import topics
from aria_nav.core.wearer_frame import Tilt


def tilt_to_msg(header: Header, tilt: Tilt) -> TransformStamped:
    """The RGB camera's optical frame in the wearer frame (rotation only, same origin), as used for this frame."""
    msg = TransformStamped()
    msg.header.stamp = header.stamp
    msg.header.frame_id = topics.WEARER_FRAME
    msg.child_frame_id = header.frame_id or topics.RGB_FRAME
    q = msg.transform.rotation
    q.x, q.y, q.z, q.w = tilt.quaternion_xyzw()
    return msg
