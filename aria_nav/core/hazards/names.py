"""How corridor hazards enter the guidance policy: the name said for each kind (English; the Spanish phrase table
translates it like a class name), its priority and which kinds are critical, merged with the named classes'."""
from __future__ import annotations

from aria_nav.core.fusion.policy import DEFAULT_CLASS_PRIORITIES, DEFAULT_CRITICAL_CLASSES, PolicyConfig
from aria_nav.core.hazards.corridor import HEAD_HEIGHT, OBSTACLE, STEP_DOWN, STEP_UP
from aria_nav.core.wearer_frame import BODY, FLOOR, HEAD

HAZARD_NAMES = {OBSTACLE: "obstacle", HEAD_HEIGHT: "head-height obstacle", STEP_DOWN: "step down",
                STEP_UP: "steps up"}
HAZARD_HEIGHT_BANDS = {OBSTACLE: BODY, HEAD_HEIGHT: HEAD, STEP_DOWN: FLOOR, STEP_UP: FLOOR}
# A drop-off and a head-height obstacle are what a cane does not find: as important as a person, and critical.
HAZARD_PRIORITIES = {"step down": 9, "head-height obstacle": 9, "obstacle": 5, "steps up": 4}
HAZARD_CRITICAL = frozenset({"step down", "head-height obstacle"})
CLASS_PRIORITIES = {**DEFAULT_CLASS_PRIORITIES, **HAZARD_PRIORITIES}
CRITICAL_CLASSES = DEFAULT_CRITICAL_CLASSES | HAZARD_CRITICAL


def hazard_policy() -> PolicyConfig:
    """The default policy with the hazards' priorities and critical kinds."""
    return PolicyConfig(class_priorities=dict(CLASS_PRIORITIES), critical_classes=CRITICAL_CLASSES)
