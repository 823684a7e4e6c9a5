"""The speech node's parameter table, apart from the node: the replay reads its language and direction style
(to phrase the announcements it records) without importing the node."""
from __future__ import annotations

from aria_nav.core.speech.engines import ENGINES
from aria_nav.core.speech.output import OUTPUTS
from aria_nav.core.speech.phrases import DIRECTION_STYLES, FORMS, SHORT, TABLES
from aria_nav.ros.params import Param

PARAMS = [
    Param("language", "en", "Language of the spoken phrases.", choices=tuple(TABLES)),
    Param("direction_style", "sides", "How directions are said: sides ('on your left') or clock ('at ten "
          "o'clock').", choices=DIRECTION_STYLES),
    Param("engine", "espeak-ng", "TTS engine; piper needs the piper-tts package and piper_model (falls back to "
          "espeak-ng with a warning).", choices=ENGINES),
    Param("voice", "", "espeak-ng voice; empty: the language's default (en-us, es)."),
    Param("words_per_minute", 175, "espeak-ng speaking rate.", min=80, max=450),
    Param("critical_words_per_minute", 0, "espeak-ng speaking rate of critical warnings (faster: at walking "
          "speed every second of audio is more than a metre walked); 0: the language's own (en 350, es 445: the "
          "longest short warning, earcon included, lasts at most 1.2 s).", min=0, max=450),
    Param("critical_form", SHORT, "short: critical warnings say only what, where and how far ('Person ahead, one "
          "meter.'); long: 'Careful, person approaching ahead, one meter'.", choices=FORMS),
    Param("piper_model", "", "piper voice model (.onnx with its .onnx.json beside it)."),
    Param("output", "auto", "auto: sound device if a player (aplay, paplay, pw-play) exists, else text only; "
          "device; wav: one WAV file per utterance in wav_dir; none: text only.", choices=OUTPUTS),
    Param("wav_dir", "~/.ros/aria_nav/speech", "Directory of the WAV files (output: wav)."),
    Param("wav_realtime", True, "With output wav, hold each utterance for its duration as a speaker would (so "
          "queueing and interruption behave as on a device)."),
    Param("earcon", True, "Play a short tone panned towards the obstacle before critical warnings."),
    Param("max_queue", 8, "Most utterances waiting; beyond, the least urgent is dropped.", min=1, max=1000),
    Param("max_age_s", 2.0, "Non-critical utterances that waited longer than this since they arrived are dropped "
          "(critical ones never are), seconds.", min=0.0, max=60.0),
    Param("repeat_cooldown_s", 2.0, "Echo guard: the same sentence is not said again within this time of when the "
          "wearer began hearing it, unless more urgent, seconds. Keep it below fusion's shortest repeat interval "
          "(critical_cooldown_walking_s): how often a warning repeats is fusion's decision.", min=0.0, max=600.0),
    Param("watch_guidance", True, "Say once when the guidance node (guidance_status on /diagnostics) falls silent "
          "and once when it is back."),
    Param("guidance_status", "aria_nav/fusion", "Name of the /diagnostics status that is the guidance heartbeat."),
    Param("guidance_timeout_s", 4.0, "Seconds without the guidance heartbeat after which guidance has stopped.",
          min=0.5, max=600.0),
    Param("guidance_startup_grace_s", 60.0, "Seconds after start within which the guidance heartbeat is awaited "
          "before guidance is said to have stopped.", min=0.0, max=3600.0),
    Param("restart_margin_s", 10.0, "Guidance up this much longer than the speech node at its first heartbeat: "
          "the speech node was restarted, and says so once, seconds.", min=0.0, max=3600.0),
]
