"""What the wearer hears: one phrase table per language, and distances spoken the way people say them.

Distances are rounded so that the spoken number is never more than 10% off the measured one, while staying short:
below half a metre "under half a meter"; to the 10 cm below 3 m ("seventy centimeters", "one point two meters";
Spanish "a setenta centímetros", "a un metro veinte"); to the half metre from 3 m to 5 m ("three and a half
meters"); to the metre up to 20 m, "more than twenty meters" beyond. The worst relative rounding errors are 9.1% at
0.55 m, 4.8% at 1.05 m, 7.7% at 3.25 m and 9.1% at 5.5 m. The number words come from the table (TTS engines read
"1.5" as "one point five").

Two forms of a critical warning (FORMS): `short` (default) names the thing, the side and the distance, nothing
else: "Person ahead, one point two.", "Persona izquierda cero setenta." The distance is a number of metres without
the unit (`short_metres`), long names have a short one (`short_class_names`: "motorbike", "head height"; "bici",
"cabeza"), and it is said at the language's `critical_words_per_minute`, so that the longest lasts about
CRITICAL_AUDIO_S with the earcon (aria_nav.core.evaluation.critical_audio measures it). The panned earcon before it
already says "danger, on that side", and at walking speed every second of audio is more than a metre walked.
`long` is phrased like the other events ("Careful, person approaching on your left, one point two meters").

Approximate distances (a relative depth model scaled by assumption, see docs/depth.md) are never spoken as metres:
the band is said instead ("person ahead, very close").

Class names are the detector's (English, COCO); each table translates the ones it knows and speaks the others as
they are.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from aria_nav.core.speech.request import (APPROXIMATE, APPROACHING, CRITICAL, DEGRADED, DESCRIPTION, ENDED,
                                          HEALTH_EVENTS, OBSTACLE, RESTORED, SLOW, SpeechRequest)

SIDES, CLOCK = "sides", "clock"
DIRECTION_STYLES = (SIDES, CLOCK)
SHORT, LONG = "short", "long"
FORMS = (SHORT, LONG)
HALF_METRE_M = 0.5  # below: "under half a meter"
TENTHS_LIMIT_M = 3.0  # below: to the 10 cm
HALVES_LIMIT_M = 5.0  # below: to the half metre; beyond: to the metre
MAX_SPOKEN_M = 20
CRITICAL_AUDIO_S = 1.2  # the longest a short critical warning may last in the ear, earcon included


def spoken_metres(metres: float) -> Optional[float]:
    """The value a distance is spoken as (the rounding rules above); None for "under half a meter", inf for
    "more than twenty meters". The evaluation compares this with the truth."""
    if metres < HALF_METRE_M - 0.05 * HALF_METRE_M:  # 0.475: closer to "half" than 10% is rounded up to it
        return None
    if metres >= MAX_SPOKEN_M + 0.5:
        return math.inf
    if metres < TENTHS_LIMIT_M - 0.05:
        return max(HALF_METRE_M, math.floor(metres * 10.0 + 0.5) / 10.0)
    if metres < HALVES_LIMIT_M - 0.25:
        return math.floor(metres * 2.0 + 0.5) / 2.0
    return float(math.floor(metres + 0.5))


@dataclass(frozen=True)
class PhraseTable:
    language: str
    espeak_voice: str
    numbers: Tuple[str, ...]  # words for 0..MAX_SPOKEN_M
    # one, many ({n}), one_tenths / many_tenths ({n} {tenths}), centimetres ({tens}), under_half, many_and_half
    # ({n}), one_and_half, beyond ({n})
    metres: Mapping[str, str]
    short_metres: Mapping[str, str]  # the same in the short critical form: numbers only, in metres
    tenths: Tuple[str, ...]  # how 0.1..0.9 is said after the whole metres (index 1..9)
    tens: Tuple[str, ...]  # words for 10, 20 .. 90 centimetres (index 1..9)
    bands: Mapping[str, str]  # very_close, close, medium, far: said instead of approximate metres
    where: Mapping[str, str]  # left, ahead, right
    where_short: Mapping[str, str]  # the same in the short critical form
    clock: str  # template with {hour}
    clock_hours: Tuple[str, ...]  # words for 1..12 as said in "at N o'clock"
    templates: Mapping[str, str]  # obstacle / approaching, with and without distance; degraded; restored; ended
    critical_prefix: str  # long critical form
    short_templates: Mapping[str, str]  # critical, with and without distance
    class_names: Mapping[str, str]
    short_class_names: Mapping[str, str]  # the short critical form's name where the usual one is long
    critical_words_per_minute: int  # espeak-ng rate of the short critical form: its longest fits CRITICAL_AUDIO_S

    def distance(self, metres: float, short: bool = False) -> str:
        """Spoken distance with the rounding rules above."""
        forms = self.short_metres if short else self.metres
        value = spoken_metres(metres)
        if value is None:
            return forms["under_half"]
        if math.isinf(value):
            return forms["beyond"].format(n=self.numbers[MAX_SPOKEN_M])
        tenths_total = int(round(value * 10))
        whole, tenths = divmod(tenths_total, 10)
        if whole == 0:
            return forms["centimetres"].format(tens=self.tens[tenths], tenths=self.tenths[tenths])
        if tenths == 5:
            return forms["one_and_half"] if whole == 1 else forms["many_and_half"].format(
                n=self.numbers[whole])
        if tenths == 0:
            return forms["one"] if whole == 1 else forms["many"].format(n=self.numbers[whole])
        name = "one_tenths" if whole == 1 else "many_tenths"
        return forms[name].format(n=self.numbers[whole], tenths=self.tenths[tenths])

    def direction(self, request: SpeechRequest, style: str, short: bool = False) -> str:
        if style == CLOCK and 1 <= request.clock <= 12:
            return self.clock.format(hour=self.clock_hours[request.clock - 1])
        return (self.where_short if short else self.where).get(request.direction, "")

    def class_name(self, name: str) -> str:
        return self.class_names.get(name, name)

    def sentence(self, request: SpeechRequest, style: str = SIDES, form: str = SHORT) -> str:
        if request.event == DESCRIPTION:  # phrased by the describe node
            return request.text
        if request.event in HEALTH_EVENTS:
            return self.templates.get(f"{request.event}_{request.reason}", self.templates[f"{request.event}_other"])
        if request.event == ENDED:
            return self.templates[ENDED]
        short = request.urgency == CRITICAL and form == SHORT
        if request.distance_m is None:
            distance = None
        elif request.distance_kind == APPROXIMATE:
            distance = self.bands.get(request.band)
        else:
            distance = self.distance(request.distance_m, short)
        suffix = "_distance" if distance else ""
        if short:
            template = self.short_templates[f"critical{suffix}"]
        else:
            template = self.templates[f"{request.event}{suffix}"]
        if short:
            name = self.short_class_names.get(request.class_name) or self.class_name(request.class_name)
            name = name[:1].upper() + name[1:]
        else:
            name = self.class_name(request.class_name)
        text = template.format(name=name, where=self.direction(request, style, short), distance=distance or "")
        return self.critical_prefix + text if request.urgency == CRITICAL and not short else text

    def combined_parts(self, requests: Sequence[SpeechRequest], style: str = SIDES) -> List[str]:
        """Several critical warnings said as one sentence (aria_nav.core.speech.queue merges those that wait
        together): the first (the nearest) in full, the others by what and where only ("Person ahead, one point
        two; bicycle right; car left.": their distances follow in their own next warnings). One part each."""
        parts = [self.sentence(requests[0], style, SHORT).rstrip(".")]
        for request in requests[1:]:
            name = self.short_class_names.get(request.class_name) or self.class_name(request.class_name)
            parts.append(self.short_templates["critical"].format(
                name=name, where=self.direction(request, style, short=True)).rstrip("."))
        return parts

    def combined(self, requests: Sequence[SpeechRequest], style: str = SIDES) -> str:
        return "; ".join(self.combined_parts(requests, style)) + "."


ENGLISH = PhraseTable(
    language="en", espeak_voice="en-us",
    numbers=("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
             "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty"),
    metres={"one": "one meter", "many": "{n} meters", "one_tenths": "one point {tenths} meters",
            "many_tenths": "{n} point {tenths} meters", "centimetres": "{tens} centimeters",
            "under_half": "under half a meter", "one_and_half": "one and a half meters",
            "many_and_half": "{n} and a half meters", "beyond": "more than {n} meters"},
    short_metres={"one": "one", "many": "{n}", "one_tenths": "one point {tenths}", "many_tenths": "{n} point {tenths}",
                  "centimetres": "point {tenths}", "under_half": "under half", "one_and_half": "one and a half",
                  "many_and_half": "{n} and a half", "beyond": "over {n}"},
    tenths=("", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"),
    tens=("", "ten", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"),
    bands={"very_close": "very close", "close": "close", "medium": "a few meters away", "far": "far away"},
    where={"left": "on your left", "ahead": "ahead", "right": "on your right"},
    where_short={"left": "left", "ahead": "ahead", "right": "right"},
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
        f"{DEGRADED}_camera": "Vision degraded: the camera has stopped.",
        f"{RESTORED}_camera": "Camera restored.",
        ENDED: "End of recording.",
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
    short_templates={"critical_distance": "{name} {where}, {distance}.", "critical": "{name} {where}."},
    class_names={"dining table": "table", "tv": "TV", "cell phone": "phone", "potted plant": "plant"},
    short_class_names={"head-height obstacle": "head height", "motorcycle": "motorbike"},
    critical_words_per_minute=350,
)

# "a" is part of the distance in Spanish ("a dos metros"); "one" is "un" before "metro" but "una" for the hour.
SPANISH = PhraseTable(
    language="es", espeak_voice="es",
    numbers=("cero", "un", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho", "nueve", "diez", "once",
             "doce", "trece", "catorce", "quince", "dieciséis", "diecisiete", "dieciocho", "diecinueve", "veinte"),
    metres={"one": "a un metro", "many": "a {n} metros", "one_tenths": "a un metro {tenths}",
            "many_tenths": "a {n} metros {tenths}", "centimetres": "a {tens} centímetros",
            "under_half": "a menos de medio metro", "one_and_half": "a un metro y medio",
            "many_and_half": "a {n} metros y medio", "beyond": "a más de {n} metros"},
    # metres and centimetres as a measurement is read ("uno veinte", "cero setenta")
    short_metres={"one": "uno", "many": "{n}", "one_tenths": "uno {tenths}", "many_tenths": "{n} {tenths}",
                  "centimetres": "cero {tens}", "under_half": "menos de medio", "one_and_half": "uno y medio",
                  "many_and_half": "{n} y medio", "beyond": "más de {n}"},
    # "a un metro veinte": the centimetres after the metres, as Spanish speakers say them
    tenths=("", "diez", "veinte", "treinta", "cuarenta", "cincuenta", "sesenta", "setenta", "ochenta", "noventa"),
    tens=("", "diez", "veinte", "treinta", "cuarenta", "cincuenta", "sesenta", "setenta", "ochenta", "noventa"),
    bands={"very_close": "muy cerca", "close": "cerca", "medium": "a unos metros", "far": "lejos"},
    where={"left": "a tu izquierda", "ahead": "delante", "right": "a tu derecha"},
    where_short={"left": "izquierda", "ahead": "delante", "right": "derecha"},
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
        f"{DEGRADED}_camera": "Visión degradada: la cámara se ha detenido.",
        f"{RESTORED}_camera": "Cámara restablecida.",
        ENDED: "Fin de la grabación.",
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
    # no comma before the distance: its pause is what made "Persona izquierda, cuatro y medio." 1.24 s
    short_templates={"critical_distance": "{name} {where} {distance}.", "critical": "{name} {where}."},
    class_names={
        "person": "persona", "bicycle": "bicicleta", "car": "coche", "motorcycle": "moto", "bus": "autobús",
        "truck": "camión", "train": "tren", "traffic light": "semáforo", "fire hydrant": "boca de incendios",
        "stop sign": "señal de stop", "bench": "banco", "dog": "perro", "cat": "gato", "backpack": "mochila",
        "umbrella": "paraguas", "suitcase": "maleta", "bottle": "botella", "cup": "taza", "chair": "silla",
        "couch": "sofá", "potted plant": "planta", "bed": "cama", "dining table": "mesa", "table": "mesa",
        "toilet": "inodoro", "tv": "televisor", "laptop": "portátil", "cell phone": "móvil",
        "refrigerator": "nevera", "sink": "fregadero", "stairs": "escaleras", "door": "puerta",
        # the walking corridor's hazards (aria_nav.core.hazards.names)
        "obstacle": "obstáculo", "head-height obstacle": "obstáculo a la altura de la cabeza",
        "step down": "escalón hacia abajo", "steps up": "escalones hacia arriba",
    },
    short_class_names={"bicycle": "bici", "bus": "bus", "head-height obstacle": "cabeza", "step down": "desnivel"},
    critical_words_per_minute=445,  # 450 and above: espeak-ng time-compresses the voice
)

TABLES: Dict[str, PhraseTable] = {table.language: table for table in (ENGLISH, SPANISH)}
