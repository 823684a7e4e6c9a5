"""Speech node: speaks the fusion node's requests (docs/guidance.md).

Requests (std_msgs/String JSON, aria_nav.core.speech.request) are phrased in the configured language, arbitrated
for deadlines (aria_nav.core.speech.queue) and spoken by a TTS engine on a worker thread: the executor never waits
for audio. Each utterance's fate, with its capture-to-ear latency (source frame stamp to audio start), is
published on the spoken topic (JSON, aria_nav.ros.speech_msgs) and logged, also when no engine or sound device
exists; /diagnostics carries the latency's percentiles and the last one.
"""
from __future__ import annotations

from std_msgs.msg import String

from aria_nav import topics
from aria_nav.core.speech.engines import ENGINES, EngineUnavailable, create_engine
from aria_nav.core.speech.output import OUTPUTS, WAV, create_sink
from aria_nav.core.speech.phrases import DIRECTION_STYLES, FORMS, SHORT, TABLES
from aria_nav.core.speech.queue import SpeechQueue
from aria_nav.core.speech.request import SpeechRequestError
from aria_nav.core.speech.speaker import Speaker, SpokenRecord
from aria_nav.ros.diagnostics import OK, WARN, NodeDiagnostics
from aria_nav.ros.params import Param, declare_parameters
from aria_nav.ros.qos import reliable_qos
from aria_nav.ros.runtime import AriaNode, main_for
from aria_nav.ros.speech_msgs import msg_to_request, spoken_to_msg

PARAMS = [
    Param("language", "en", "Language of the spoken phrases.", choices=tuple(TABLES)),
    Param("direction_style", "sides", "How directions are said: sides ('on your left') or clock ('at ten "
          "o'clock').", choices=DIRECTION_STYLES),
    Param("engine", "espeak-ng", "TTS engine; piper needs the piper-tts package and piper_model (falls back to "
          "espeak-ng with a warning).", choices=ENGINES),
    Param("voice", "", "espeak-ng voice; empty: the language's default (en-us, es)."),
    Param("words_per_minute", 175, "espeak-ng speaking rate.", min=80, max=450),
    Param("critical_words_per_minute", 300, "espeak-ng speaking rate of critical warnings (faster: at walking "
          "speed every second of audio is more than a metre walked).", min=80, max=450),
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
]


class SpeechNode(AriaNode):
    def __init__(self):
        super().__init__("speech")
        self.cfg = declare_parameters(self, PARAMS)
        cfg = self.cfg
        self.phrases = TABLES[cfg.language]
        self.diag = NodeDiagnostics(self)
        warnings = []
        try:
            engine, warning = create_engine(cfg.engine, cfg.voice or self.phrases.espeak_voice,
                                            cfg.words_per_minute, cfg.piper_model)
            warnings += [warning] if warning else []
        except EngineUnavailable as exc:
            engine = None
            warnings.append(f"no TTS engine ({exc}): speech is only logged and published on {topics.SPEECH_SPOKEN}")
        sink, warning = create_sink(cfg.output, cfg.wav_dir, cfg.wav_realtime)
        warnings += [warning] if warning else []
        for message in warnings:
            self.get_logger().warning(message)
        self.diag.set_status(WARN if warnings else OK, "; ".join(warnings) or "ready")
        self.diag.set_value("engine", engine.name if engine else "none")
        self.diag.set_value("output", sink.kind + (f" ({sink.directory})" if sink.kind == WAV else ""))
        self.diag.set_value("language", cfg.language)
        self._counts = {"spoken": 0, "interrupted": 0, "failed": 0, "rejected": 0}
        self._spoken_pub = self.create_publisher(String, topics.SPEECH_SPOKEN, reliable_qos())
        queue = SpeechQueue(cfg.max_queue, cfg.max_age_s, cfg.repeat_cooldown_s)
        self.speaker = Speaker(self.phrases, cfg.direction_style, engine, sink, queue, self._now, self._on_spoken,
                               earcon=cfg.earcon, form=cfg.critical_form,
                               critical_words_per_minute=cfg.critical_words_per_minute)
        self.create_subscription(String, topics.SPEECH_REQUEST, self._on_request, reliable_qos(depth=50))
        self.create_timer(1.0, self._update_diagnostics)
        self.get_logger().info(f"speech: {cfg.language}, engine {engine.name if engine else 'none'}, "
                               f"output {sink.kind}")

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds / 1e9

    def _on_request(self, msg: String) -> None:
        try:
            request = msg_to_request(msg)
        except SpeechRequestError as exc:
            self._counts["rejected"] += 1
            self.diag.stats.record_error(f"speech request rejected: {exc}")
            self.get_logger().warning(f"speech request rejected: {exc}", throttle_duration_sec=5.0)
            return
        outcome = self.speaker.say(request)
        self.get_logger().debug(f"{request.urgency} {request.event} {request.key}: {outcome}")

    def _on_spoken(self, record: SpokenRecord) -> None:
        """Runs on the speech worker thread."""
        if record.error:
            self._counts["failed"] += 1
            self.diag.stats.record_error(f"'{record.text}': {record.error}")
            self.get_logger().error(f"could not say '{record.text}': {record.error}")
        elif record.interrupted:
            self._counts["interrupted"] += 1
            self.get_logger().info(f"interrupted: {record.text}")
        else:
            self._counts["spoken"] += 1
            self.get_logger().info(f"said ({record.request.urgency}): {record.text}")
        latency = record.capture_to_ear_s
        if latency is not None:  # the diagnostics' latency percentiles are capture-to-ear
            self.diag.stats.record(latency * 1e3)
            self.diag.set_value("capture_to_ear_ms_last", f"{latency * 1e3:.1f} ({record.request.urgency})")
        self._spoken_pub.publish(spoken_to_msg(record, self.cfg.language))

    def _update_diagnostics(self) -> None:
        stats = self.speaker.queue.stats
        for key, value in self._counts.items():
            self.diag.set_value(key, value)
        for key in ("duplicates", "stale", "overflow", "replaced", "interrupts"):
            self.diag.set_value(f"queue_{key}", getattr(stats, key))
        self.diag.set_value("queued", len(self.speaker.queue))

    def close(self) -> None:
        self.speaker.close()


main = main_for(SpeechNode, "speech")
