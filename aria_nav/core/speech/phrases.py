"""What the wearer hears: one phrase table per language, and distances spoken the way people say them.

Distances are rounded so that the sentence stays short and does not pretend to more precision than the estimate
has: to the nearest half metre below 3 m ("one and a half meters"; never less than half a metre), to the nearest
metre from 3 m to 20 m, and "more than twenty meters" beyond. The number words come from the table (TTS engines
read "1.5" as "one point five").

Approximate distances (a relative depth model scaled by assumption, see docs/depth.md) are never spoken as metres:
the band is said instead ("person ahead, very close").

Class names are the detector's (English, COCO); each table translates the ones it knows and speaks the others as
they are.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, Mapping, Tuple

from aria_nav.core.speech.request import (APPROXIMATE, APPROACHING, CRITICAL, DEGRADED, HEALTH_EVENTS, OBSTACLE,
                                          RESTORED, SLOW, SpeechRequest)

SIDES, CLOCK = "sides", "clock"
DIRECTION_STYLES = (SIDES, CLOCK)
HALF_METRE_LIMIT_M = 3.0
MAX_SPOKEN_M = 20


@dataclass(frozen=True)
class PhraseTable:
    language: str
    espeak_voice: str
    numbers: Tuple[str, ...]  # words for 0..MAX_SPOKEN_M
    metres: Mapping[str, str]  # one, many ({n}), half_alone, one_and_half, many_and_half ({n}), beyond ({n})
    bands: Mapping[str, str]  # very_close, close, medium, far: said instead of approximate metres
    where: Mapping[str, str]  # left, ahead, right
    clock: str  # template with {hour}
    clock_hours: Tuple[str, ...]  # words for 1..12 as said in "at N o'clock"
    templates: Mapping[str, str]  # obstacle / approaching, with and without distance; degraded; restored
    critical_prefix: str
    class_names: Mapping[str, str]

    def distance(self, metres: float) -> str:
        """Spoken distance with the rounding rules above."""
        if metres >= MAX_SPOKEN_M + 0.5:
            return self.metres["beyond"].format(n=self.numbers[MAX_SPOKEN_M])
        if metres < HALF_METRE_LIMIT_M:
            halves = max(1, int(math.floor(metres * 2.0 + 0.5)))
            whole, half = divmod(halves, 2)
            if whole == 0:
                return self.metres["half_alone"]
            if whole == 1:
                return self.metres["one_and_half" if half else "one"]
            return self.metres["many_and_half" if half else "many"].format(n=self.numbers[whole])
        whole = int(math.floor(metres + 0.5))
        return self.metres["many"].format(n=self.numbers[whole])

    def direction(self, request: SpeechRequest, style: str) -> str:
        if style == CLOCK and 1 <= request.clock <= 12:
            return self.clock.format(hour=self.clock_hours[request.clock - 1])
        return self.where.get(request.direction, "")

    def class_name(self, name: str) -> str:
        return self.class_names.get(name, name)

    def sentence(self, request: SpeechRequest, style: str = SIDES) -> str:
        if request.event in HEALTH_EVENTS:
            return self.templates.get(f"{request.event}_{request.reason}", self.templates[f"{request.event}_other"])
        if request.distance_m is None:
            distance = None
        elif request.distance_kind == APPROXIMATE:
            distance = self.bands.get(request.band)
        else:
            distance = self.distance(request.distance_m)
        template = self.templates[f"{request.event}{'_distance' if distance else ''}"]
        text = template.format(name=self.class_name(request.class_name), where=self.direction(request, style),
                               distance=distance or "")
        return self.critical_prefix + text if request.urgency == CRITICAL else text


ENGLISH = PhraseTable(
    language="en", espeak_voice="en-us",
    numbers=("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
             "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty"),
    metres={"one": "one meter", "many": "{n} meters", "half_alone": "half a meter",
            "one_and_half": "one and a half meters", "many_and_half": "{n} and a half meters",
            "beyond": "more than {n} meters"},
    bands={"very_close": "very close", "close": "close", "medium": "a few meters away", "far": "far away"},
    where={"left": "on your left", "ahead": "ahead", "right": "on your right"},
    clock="at {hour} o'clock",
    clock_hours=("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
                 "twelve"),
    templates={
        f"{OBSTACLE}_distance": "{name} {where}, {distance}",
        OBSTACLE: "{name} {where}",
        f"{APPROACHING}_distance": "{name} approaching {where}, {distance}",
        APPROACHING: "{name} approaching {where}",
        f"{DEGRADED}_detections": "Vision degraded: obstacle detection has stopped.",
        f"{DEGRADED}_depth": "Vision degraded: distances are not available.",
        f"{RESTORED}_detections": "Obstacle detection restored.",
        f"{RESTORED}_depth": "Distances restored.",
        f"{DEGRADED}_guidance": "Guidance stopped: no obstacle warnings for now.",
        f"{RESTORED}_guidance": "Guidance is back.",
        f"{DEGRADED}_speech": "Voice guidance stopped.",
        f"{RESTORED}_speech": "Voice guidance restarted.",
        f"{SLOW}_detections": "Obstacle detection is slow: warnings may come late.",
        f"{SLOW}_depth": "Distances are slow to update.",
        f"{DEGRADED}_other": "Guidance degraded.",
        f"{RESTORED}_other": "Guidance restored.",
        f"{SLOW}_other": "Guidance is slow.",
    },
    critical_prefix="Careful, ",
    class_names={"dining table": "table", "tv": "TV", "cell phone": "phone", "potted plant": "plant"},
)

# "a" is part of the distance in Spanish ("a dos metros"); "one" is "un" before "metro" but "una" for the hour.
SPANISH = PhraseTable(
    language="es", espeak_voice="es",
    numbers=("cero", "un", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho", "nueve", "diez", "once",
             "doce", "trece", "catorce", "quince", "dieciséis", "diecisiete", "dieciocho", "diecinueve", "veinte"),
    metres={"one": "a un metro", "many": "a {n} metros", "half_alone": "a medio metro",
            "one_and_half": "a un metro y medio", "many_and_half": "a {n} metros y medio",
            "beyond": "a más de {n} metros"},
    bands={"very_close": "muy cerca", "close": "cerca", "medium": "a unos metros", "far": "lejos"},
    where={"left": "a tu izquierda", "ahead": "delante", "right": "a tu derecha"},
    clock="{hour}",
    clock_hours=("a la una", "a las dos", "a las tres", "a las cuatro", "a las cinco", "a las seis",
                 "a las siete", "a las ocho", "a las nueve", "a las diez", "a las once", "a las doce"),
    templates={
        f"{OBSTACLE}_distance": "{name} {where}, {distance}",
        OBSTACLE: "{name} {where}",
        f"{APPROACHING}_distance": "{name} acercándose {where}, {distance}",
        APPROACHING: "{name} acercándose {where}",
        f"{DEGRADED}_detections": "Visión degradada: la detección de obstáculos se ha detenido.",
        f"{DEGRADED}_depth": "Visión degradada: no hay distancias.",
        f"{RESTORED}_detections": "Detección de obstáculos restablecida.",
        f"{RESTORED}_depth": "Distancias restablecidas.",
        f"{DEGRADED}_guidance": "Guía detenida: por ahora no hay avisos de obstáculos.",
        f"{RESTORED}_guidance": "La guía ha vuelto.",
        f"{DEGRADED}_speech": "Guía por voz detenida.",
        f"{RESTORED}_speech": "Guía por voz reiniciada.",
        f"{SLOW}_detections": "La detección de obstáculos va lenta: los avisos pueden llegar tarde.",
        f"{SLOW}_depth": "Las distancias tardan en actualizarse.",
        f"{DEGRADED}_other": "Guía degradada.",
        f"{RESTORED}_other": "Guía restablecida.",
        f"{SLOW}_other": "La guía va lenta.",
    },
    critical_prefix="Cuidado, ",
    class_names={
        "person": "persona", "bicycle": "bicicleta", "car": "coche", "motorcycle": "moto", "bus": "autobús",
        "truck": "camión", "train": "tren", "traffic light": "semáforo", "fire hydrant": "boca de incendios",
        "stop sign": "señal de stop", "bench": "banco", "dog": "perro", "cat": "gato", "backpack": "mochila",
        "umbrella": "paraguas", "suitcase": "maleta", "bottle": "botella", "cup": "taza", "chair": "silla",
        "couch": "sofá", "potted plant": "planta", "bed": "cama", "dining table": "mesa", "table": "mesa",
        "toilet": "inodoro", "tv": "televisor", "laptop": "portátil", "cell phone": "móvil",
        "refrigerator": "nevera", "sink": "fregadero", "stairs": "escaleras", "door": "puerta",
    },
)

TABLES: Dict[str, PhraseTable] = {table.language: table for table in (ENGLISH, SPANISH)}
