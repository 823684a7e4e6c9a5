"""The obstacle summary: what the tracked obstacles say is around the wearer, as one deterministic sentence.

Order (what matters first): ahead, then the side whose most important obstacle has the higher priority (left on a
tie); within a direction, obstacles by priority, then nearest first, at most `max_per_direction` of them. Sides with
nothing are said last, together ("Clear on your right."). Distances follow the speech phrase tables' rounding
(aria_nav.core.speech.phrases); approximate ones are said as bands, unknown ones not at all.

A peripheral (SLAM camera) obstacle of the same class as an RGB one within SAME_THING_DEG of its bearing is the same
thing seen twice (fusion does not speak it either) and is left out.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Mapping, Sequence, Tuple

from aria_nav.core.speech.phrases import TABLES as SPEECH_TABLES, PhraseTable
from aria_nav.core.speech.request import APPROXIMATE, METRIC

LEFT, AHEAD, RIGHT = "left", "ahead", "right"
SAME_THING_DEG = 15.0


@dataclass(frozen=True)
class SceneObstacle:
    """One tracked obstacle as the summary needs it (from the fusion node's obstacle records)."""

    class_name: str
    direction: str  # left | ahead | right
    distance_m: float  # NaN when unknown
    band: str  # very_close | close | medium | far | unknown
    priority: float
    bearing_deg: float = 0.0
    peripheral: bool = False  # seen by a SLAM (side) camera


@dataclass(frozen=True)
class SummaryTable:
    """How a language says the summary; distances, bands and class names come from the speech table."""

    speech: PhraseTable
    headings: Mapping[str, str]  # left / ahead / right, starting a sentence
    sides: Mapping[str, str]  # left / ahead / right inside "clear ..."
    thing: str  # {article} {name}
    with_distance: str  # {thing} {distance}
    with_band: str  # {thing}, {band}
    also: str  # joins the last two things
    clear: str  # {where}
    clear_both_sides: str
    nothing: str  # no obstacle anywhere
    no_vision: str  # no obstacle information: vision is not running
    articles: Mapping[str, str]  # translated class name -> article ("" for none); others: default_article
    feminine_article: str = ""
    default_article: str = "a"

    def article(self, name: str) -> str:
        if name in self.articles:
            return self.articles[name]
        if self.speech.language == "en" and name[:1].lower() in "aeiou":
            return "an"
        return self.default_article


ENGLISH = SummaryTable(
    speech=SPEECH_TABLES["en"],
    headings={AHEAD: "Ahead", LEFT: "On your left", RIGHT: "On your right"},
    sides={AHEAD: "ahead", LEFT: "on your left", RIGHT: "on your right"},
    thing="{article} {name}", with_distance="{thing} at {distance}", with_band="{thing}, {band}", also=" and ",
    clear="Clear {where}.", clear_both_sides="Clear on both sides.", nothing="Nothing detected around you.",
    no_vision="Obstacle detection is not running: nothing can be described.",
    articles={"stairs": "", "TV": "a", "steps up": ""})

_FEMININE = ("persona", "bicicleta", "moto", "boca de incendios", "señal de stop", "mochila", "maleta", "botella",
             "taza", "silla", "planta", "cama", "mesa", "nevera", "puerta")
SPANISH = SummaryTable(
    speech=SPEECH_TABLES["es"],
    headings={AHEAD: "Delante", LEFT: "A tu izquierda", RIGHT: "A tu derecha"},
    sides={AHEAD: "delante", LEFT: "a tu izquierda", RIGHT: "a tu derecha"},
    # Spanish distances carry their "a" ("a dos metros").
    thing="{article} {name}", with_distance="{thing} {distance}", with_band="{thing}, {band}", also=" y ",
    clear="Despejado {where}.", clear_both_sides="Despejado a ambos lados.",
    nothing="No se detecta nada a tu alrededor.",
    no_vision="La detección de obstáculos no está funcionando: no se puede describir nada.",
    articles={**{name: "una" for name in _FEMININE}, "escaleras": "unas", "escalones hacia arriba": "unos"},
    default_article="un")

TABLES: Dict[str, SummaryTable] = {table.speech.language: table for table in (ENGLISH, SPANISH)}


def _without_doubles(obstacles: Sequence[SceneObstacle]) -> List[SceneObstacle]:
    central = [o for o in obstacles if not o.peripheral]
    return central + [o for o in obstacles if o.peripheral and not any(
        c.class_name == o.class_name and abs(c.bearing_deg - o.bearing_deg) <= SAME_THING_DEG for c in central)]


def _importance(o: SceneObstacle) -> Tuple[float, float]:
    """Larger first: priority, then nearness (unknown distances last)."""
    return (o.priority, -o.distance_m if math.isfinite(o.distance_m) else -math.inf)


def _say_one(table: SummaryTable, o: SceneObstacle, distance_kind: str) -> str:
    name = table.speech.class_name(o.class_name)
    thing = table.thing.format(article=table.article(name), name=name).strip()
    if math.isfinite(o.distance_m) and distance_kind == METRIC:
        return table.with_distance.format(thing=thing, distance=table.speech.distance(o.distance_m))
    if distance_kind == APPROXIMATE and o.band in table.speech.bands:
        return table.with_band.format(thing=thing, band=table.speech.bands[o.band])
    return thing


def _join(table: SummaryTable, parts: Sequence[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + table.also + parts[-1]


def summarize(obstacles: Sequence[SceneObstacle], table: SummaryTable, distance_kind: str = METRIC,
              max_per_direction: int = 2) -> str:
    """The summary sentence of the obstacles around the wearer (already limited to those worth describing)."""
    by_direction: Dict[str, List[SceneObstacle]] = {LEFT: [], AHEAD: [], RIGHT: []}
    for o in _without_doubles(obstacles):
        by_direction.setdefault(o.direction, []).append(o)
    for items in by_direction.values():
        items.sort(key=_importance, reverse=True)
    if not any(by_direction.values()):
        return table.nothing
    sides = sorted((LEFT, RIGHT), key=lambda side: _importance(by_direction[side][0])
                   if by_direction[side] else (-math.inf, -math.inf), reverse=True)
    sentences = []
    for direction in (AHEAD, *sides):
        items = by_direction[direction][:max_per_direction]
        if items:
            sentences.append(f"{table.headings[direction]}, "
                             f"{_join(table, [_say_one(table, o, distance_kind) for o in items])}.")
    clear = [d for d in (AHEAD, LEFT, RIGHT) if not by_direction[d]]
    if clear == [LEFT, RIGHT]:
        sentences.append(table.clear_both_sides)
    elif clear:
        sentences.append(table.clear.format(where=_join(table, [table.sides[d] for d in clear])))
    return " ".join(sentences)
