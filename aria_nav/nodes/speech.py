"""Speech node: speaks the fusion node's requests (docs/guidance.md).

Requests (aria_nav_msgs/SpeechRequest, aria_nav.core.speech.request) are phrased in the configured language, arbitrated
for deadlines (aria_nav.core.speech.queue) and spoken by a TTS engine on a worker thread: the executor never waits
for audio. Each utterance's fate, with its capture-to-ear latency (source frame stamp to audio start), is
published on the spoken topic (JSON, aria_nav.ros.speech_msgs) and logged, also when no engine or sound device
exists; /diagnostics carries the latency's percentiles and the last one.

The node also watches fusion's /diagnostics, sent every second (core.speech.guidance_watch): when fusion falls
silent the wearer hears once that guidance stopped, and once that it is back; a speech node restarted into a
running graph says so once.
"""
from __future__ import annotations

import threading
import time

from diagnostic_msgs.msg import DiagnosticArray
from aria_nav_msgs.msg import SpeechRequest as SpeechRequestMsg
from aria_nav_msgs.msg import Utterance

from aria_nav import topics
from aria_nav.core.health import OutagePolicy
from aria_nav.core.speech.engines import EngineUnavailable, create_engine
from aria_nav.core.speech.output import WAV, create_sink
from aria_nav.core.speech.phrases import TABLES
from aria_nav.core.speech.queue import SpeechQueue
from aria_nav.core.speech.guidance_watch import BACK, RESTARTED, STOPPED, GuidanceWatch
from aria_nav.core.speech.request import DEGRADED, INFO, RESTORED, WARNING, SpeechRequest, SpeechRequestError
from aria_nav.core.speech.speaker import Speaker, SpokenRecord
from aria_nav.ros.diagnostics import INPUT_LOG_PERIOD_S, OK, WARN, NodeDiagnostics
from aria_nav.ros.params import declare_parameters
from aria_nav.ros.qos import reliable_qos
from aria_nav.ros.runtime import AriaNode, main_for
from aria_nav.ros.speech_params import PARAMS
from aria_nav.ros.speech_msgs import msg_to_request, spoken_to_msg

GUIDANCE_PRIORITY = 100.0  # above any obstacle: the wearer must know the warnings have stopped
GUIDANCE_SPEECH = {STOPPED: (DEGRADED, WARNING, "guidance"), BACK: (RESTORED, INFO, "guidance"),
                   RESTARTED: (RESTORED, INFO, "speech")}


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
        self._spoken_pub = self.create_publisher(Utterance, topics.SPEECH_SPOKEN, reliable_qos())
        self._worker_output = threading.Lock()  # the worker's reports vs close()
        self._closed = False
        queue = SpeechQueue(cfg.max_queue, cfg.max_age_s, cfg.repeat_cooldown_s)
        self.speaker = Speaker(self.phrases, cfg.direction_style, engine, sink, queue, self._now, self._on_spoken,
                               earcon=cfg.earcon, form=cfg.critical_form,
                               critical_words_per_minute=cfg.critical_words_per_minute)
        self.create_subscription(SpeechRequestMsg, topics.SPEECH_REQUEST, self._on_request, reliable_qos(depth=50))
        self.create_timer(1.0, self._update_diagnostics)
        self.guidance = None
        if cfg.watch_guidance:
            self.guidance = GuidanceWatch(cfg.guidance_timeout_s, cfg.guidance_startup_grace_s, time.monotonic(),
                                          cfg.restart_margin_s, OutagePolicy(restore_messages=2))
            self.create_subscription(DiagnosticArray, topics.DIAGNOSTICS, self._on_diagnostics, reliable_qos(50))
            self.create_timer(0.5, lambda: self._announce_guidance(self.guidance.update(time.monotonic())))
        self.get_logger().info(f"speech: {cfg.language}, engine {engine.name if engine else 'none'}, "
                               f"output {sink.kind}")

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds / 1e9

    def _on_request(self, msg: SpeechRequestMsg) -> None:
        try:
            request = msg_to_request(msg)
        except SpeechRequestError as exc:
            self._counts["rejected"] += 1
            self.diag.stats.record_error(f"speech request rejected: {exc}")
            self.get_logger().warning(f"speech request rejected: {exc}", throttle_duration_sec=INPUT_LOG_PERIOD_S)
            return
        outcome = self.speaker.say(request)
        self.get_logger().debug(f"{request.urgency} {request.event} {request.key}: {outcome}")

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name == self.cfg.guidance_status:
                uptime = next((kv.value for kv in status.values if kv.key == "uptime_s"), None)
                try:
                    uptime_s = float(uptime) if uptime is not None else None
                except ValueError:
                    uptime_s = None
                self._announce_guidance(self.guidance.heartbeat(time.monotonic(), uptime_s))

    def _announce_guidance(self, events) -> None:
        for event in events:
            kind, urgency, reason = GUIDANCE_SPEECH[event]
            if event == STOPPED:  # one call site per severity: rclpy refuses to change it between calls
                self.get_logger().warning(f"guidance stopped: no {self.cfg.guidance_status} on {topics.DIAGNOSTICS} "
                                          f"for {self.cfg.guidance_timeout_s:g} s")
            else:
                self.get_logger().info(f"guidance {event} ({self.cfg.guidance_status} on {topics.DIAGNOSTICS})")
            self.speaker.say(SpeechRequest(event=kind, urgency=urgency, priority=GUIDANCE_PRIORITY,
                                           key=f"{reason}:{event}", stamp_ns=self.get_clock().now().nanoseconds,
                                           reason=reason))

    def _on_spoken(self, record: SpokenRecord) -> None:
        """Runs on the speech worker thread: never after close() (the worker may outlive its bounded join, and a
        publisher used after the node is destroyed crashes the process)."""
        with self._worker_output:
            if not self._closed:
                self._report(record)

    def _report(self, record: SpokenRecord) -> None:
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
        for key in ("duplicates", "stale", "overflow", "replaced", "interrupts", "merged"):
            self.diag.set_value(f"queue_{key}", getattr(stats, key))
        self.diag.set_value("queued", len(self.speaker.queue))
        if self.guidance is not None:
            self.diag.set_value("guidance", "stopped" if self.guidance.down else
                                "running" if self.guidance.heartbeats else "waiting")

    def close(self) -> None:
        self.speaker.close()
        with self._worker_output:
            self._closed = True


main = main_for(SpeechNode, "speech")
