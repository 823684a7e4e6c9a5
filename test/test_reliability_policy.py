"""What the wearer is told about outages and slowness, decided by ROS-free policies driven here with explicit
clocks: fusion's inputs (core.fusion.watchdog over core.health), fusion itself as the speech node hears it
(core.speech.guidance_watch), the sentences in both languages, and the WAV sink never overwriting earlier files."""
import wave

import pytest

from aria_nav.core.fusion.watchdog import CAMERA, DEPTH, DETECTIONS, FRESH, SLOW_STATE, STALE, WAITING, VisionHealth
from aria_nav.core.health import InputRate, Outage, OutagePolicy, RatePolicy
from aria_nav.core.speech.audio import Audio
from aria_nav.core.speech.guidance_watch import BACK, RESTARTED, STOPPED, GuidanceWatch
from aria_nav.core.speech.output import WavSink
from aria_nav.core.speech.phrases import TABLES
from aria_nav.core.speech.request import DEGRADED, HEALTH_EVENTS, REASONS, RESTORED, SLOW, SpeechRequest


def _events(changes):
    return [(c.event, c.reason) for c in changes]


def _run(health, until_s, step_s=0.1, feeds=(), beats=()):
    """Advance `health` to `until_s` in `step_s` ticks; `feeds`: (input, period_s, start_s, end_s) streams;
    `beats`: (input, start_s, end_s), the heartbeat of the node behind the input, every second.
    Returns every change with its time."""
    said, t = [], 0.0
    next_at = {i: start for i, (_, _, start, _) in enumerate(feeds)}
    while t <= until_s:
        for i, (name, period, start, end) in enumerate(feeds):
            while next_at[i] <= t and next_at[i] < end:
                health.seen(name, next_at[i])
                next_at[i] += period
        for name, start, end in beats:
            if start <= t < end and abs(t - round(t)) < 1e-6:
                health.heard(name, t)
        said += [(round(t, 1), e, r) for e, r in _events(health.update(t))]
        t = round(t + step_s, 3)
    return said


def test_a_slow_depth_stage_is_never_taken_for_a_dead_one():
    """Depth at 0.2 Hz (CPU) and detections at 5 Hz for ten minutes: no degraded/restored at all (the old fixed
    2 s threshold said 'degraded'/'restored' every few seconds)."""
    health = VisionHealth(stale_after_s=2.0, startup_grace_s=30.0, start_s=0.0)
    said = _run(health, 600.0, feeds=[(DETECTIONS, 0.2, 1.0, 1e9), (DEPTH, 5.0, 3.0, 1e9)])
    assert said == []
    assert health.state(DEPTH, 600.0) == FRESH
    assert health.inputs[DEPTH].silence_threshold_s() == pytest.approx(20.0)  # 4 of its 5 s intervals


def test_a_dead_stage_is_said_once_and_its_return_once():
    health = VisionHealth(2.0, 30.0, 0.0)
    said = _run(health, 120.0, feeds=[(DETECTIONS, 0.2, 1.0, 40.0), (DETECTIONS, 0.2, 50.0, 1e9),
                                      (DEPTH, 1.0, 1.0, 1e9)])
    assert [(e, r) for _, e, r in said] == [(DEGRADED, DETECTIONS), (RESTORED, DETECTIONS)]
    (down_at, _, _), (up_at, _, _) = said
    assert 41.5 <= down_at <= 42.5 and 50.0 <= up_at <= 50.2  # 2 s of silence; back with its first message


def test_a_flapping_stage_is_said_out_once_and_back_only_once_it_has_settled():
    """Detections stop for 3 s every 10 s for two minutes, then run steadily: one degraded, one restored (30 s
    after the flapping ended), never a loop."""
    feeds = [(DEPTH, 1.0, 0.5, 1e9)]
    for start in range(0, 120, 10):
        feeds.append((DETECTIONS, 0.2, start, start + 7))
    feeds.append((DETECTIONS, 0.2, 120.0, 1e9))
    health = VisionHealth(2.0, 30.0, 0.0)
    said = _run(health, 200.0, feeds=feeds)
    assert [(e, r) for _, e, r in said] == [(DEGRADED, DETECTIONS), (RESTORED, DETECTIONS),
                                            (DEGRADED, DETECTIONS), (RESTORED, DETECTIONS)]
    # the first outage is a plain one (said out, back); from the second on it flaps: out once, back at 150 s
    assert said[2][0] < 20.0 and 150.0 <= said[3][0] <= 151.0


def test_a_stage_that_slows_down_is_reported_slow_at_most_once_per_repeat_time():
    """Depth at 2 Hz, then at 0.5 Hz (below half its early rate) for 15 minutes, with a short recovery to full
    speed in the middle: 'slow' is said at 5 minute intervals at most (twice), nothing else."""
    feeds = [(DETECTIONS, 0.2, 0.0, 1e9), (DEPTH, 0.5, 0.0, 60.0), (DEPTH, 2.0, 60.0, 400.0),
             (DEPTH, 0.5, 400.0, 430.0), (DEPTH, 2.0, 430.0, 1e9)]
    health = VisionHealth(2.0, 30.0, 0.0, slow_repeat_s=300.0)
    said = _run(health, 960.0, feeds=feeds)
    assert [(e, r) for _, e, r in said] == [(SLOW, DEPTH), (SLOW, DEPTH)]
    assert 60.0 < said[0][0] < 90.0 and said[1][0] - said[0][0] >= 300.0
    assert health.state(DEPTH, 960.0) == SLOW_STATE


def test_one_slow_sentence_per_repeat_time_whichever_the_input():
    feeds = [(DETECTIONS, 0.2, 0.0, 60.0), (DETECTIONS, 1.0, 60.0, 1e9), (DEPTH, 0.5, 0.0, 100.0),
             (DEPTH, 2.0, 100.0, 1e9)]
    health = VisionHealth(2.0, 30.0, 0.0, slow_repeat_s=300.0)
    said = _run(health, 250.0, feeds=feeds)
    assert [(e, r) for _, e, r in said] == [(SLOW, DETECTIONS)]
    assert health.state(DEPTH, 250.0) == SLOW_STATE and health.state(DETECTIONS, 250.0) == SLOW_STATE


def test_the_slow_floor_is_configurable():
    rate = InputRate(RatePolicy(min_rate_hz=3.0))
    for i in range(11):
        rate.arrived(i * 0.5)  # 2 Hz
    assert rate.floor_hz() == 3.0 and rate.update_slow() and rate.slow
    assert not rate.update_slow()  # said once: stays slow without a new "became slow"


def test_a_dead_slow_stage_is_out_within_its_heartbeat_timeout_and_back_once():
    """Depth at 0.15 Hz (its data's silence threshold: four intervals, 27 s) killed at 100 s: its heartbeat stops,
    it is out 4 s later; restarted, its heartbeat is back at 110 s, but only its first image (at 130 s, the model
    loading) brings distances back. One outage, one recovery, while the detector, alive, goes on at 5 Hz."""
    health = VisionHealth(2.0, 30.0, 0.0, heartbeat_timeout_s=4.0)
    said = _run(health, 200.0, feeds=[(DETECTIONS, 0.2, 1.0, 1e9), (DEPTH, 1 / 0.15, 3.0, 100.0),
                                      (DEPTH, 1 / 0.15, 130.0, 1e9)],
                beats=[(DETECTIONS, 1.0, 1e9), (DEPTH, 1.0, 100.0), (DEPTH, 110.0, 1e9)])
    assert [(e, r) for _, e, r in said] == [(DEGRADED, DEPTH), (RESTORED, DEPTH)]
    assert said[0][0] == pytest.approx(103.0, abs=1.05) and said[1][0] == pytest.approx(130.0, abs=0.15)
    assert health.state(DEPTH, 200.0) == FRESH


def test_a_live_slow_stage_is_only_slow_and_a_dead_detector_is_out_at_once():
    """With heartbeats, a stage that is slow all along is never out (its node is alive); a detector killed at 60 s
    (0.5 Hz on this CPU: its data's threshold is 8 s) is out 4 s after its last heartbeat, and back when its node
    and then its detections are."""
    health = VisionHealth(2.0, 30.0, 0.0, heartbeat_timeout_s=4.0)
    said = _run(health, 600.0, feeds=[(DETECTIONS, 2.0, 1.0, 60.0), (DETECTIONS, 2.0, 90.0, 1e9),
                                      (DEPTH, 1 / 0.15, 3.0, 1e9)],
                beats=[(DETECTIONS, 1.0, 60.0), (DETECTIONS, 70.0, 1e9), (DEPTH, 1.0, 1e9)])
    assert [(t, e, r) for t, e, r in said] == [(63.0, DEGRADED, DETECTIONS), (90.0, RESTORED, DETECTIONS)]
    assert health.node_silent(DETECTIONS, 62.9) is False


def test_a_node_restarted_quicker_than_the_timeout_is_told_by_its_new_pid():
    """Depth killed at 100 s and its new process heard 2 s later (a gap within the 4 s timeout): its new pid says
    it was restarted, distances are out until its first image (120 s), once."""
    health = VisionHealth(2.0, 30.0, 0.0, heartbeat_timeout_s=4.0)
    said, t = [], 0.0
    while t <= 200.0:
        if abs(t - round(t)) < 1e-6 and not 100.0 < t < 102.0:
            health.heard(DEPTH, t, process="41" if t <= 100.0 else "57")
            health.heard(DETECTIONS, t, process="12")
        if abs(t * 5 - round(t * 5)) < 1e-6:
            health.seen(DETECTIONS, t)
        if (3.0 <= t <= 100.0 or t >= 120.0) and abs(t % 5.0) < 1e-6:
            health.seen(DEPTH, t)
        said += [(round(t, 1), e, r) for e, r in _events(health.update(t))]
        t = round(t + 0.1, 3)
    assert said == [(102.0, DEGRADED, DEPTH), (120.0, RESTORED, DEPTH)]
    assert not health.node_restarted(DEPTH)


def test_fusion_starved_of_cpu_does_not_take_unread_heartbeats_for_silence():
    """Fusion's own process got no CPU from 10 to 16 s: its first update after that comes before it reads the
    heartbeats queued meanwhile; they are judged on the next one."""
    health = VisionHealth(2.0, 30.0, 0.0, heartbeat_timeout_s=4.0)
    for t in range(0, 11):
        health.heard(DEPTH, float(t))
        assert health.update(float(t)) == []
    assert health.update(16.0) == []  # the statuses of 11 to 15 s are still queued
    for _ in range(11, 16):
        health.heard(DEPTH, 16.0)  # read at last
    assert health.update(16.1) == [] and health.state(DEPTH, 16.1) != STALE
    said = [(round(t / 10, 1), _events(health.update(t / 10))) for t in range(162, 210)]
    assert [(t, e) for t, e in said if e] == [(20.0, [(DEGRADED, DEPTH)])]  # really silent from 16 s on


def test_heartbeats_read_late_are_not_taken_for_silence():
    """Fusion busy with frames reads the statuses seconds after they were sent: its heartbeat watch waits until it
    reads them in time again (another host's clock offset, the smallest delay seen, does not count)."""
    health = VisionHealth(2.0, 30.0, 0.0, heartbeat_timeout_s=4.0)
    offset = 100.0  # the senders' clock
    for t in range(0, 11):
        health.status_read(t + offset + 0.05, float(t))
        health.heard(DEPTH, float(t))
        assert health.update(float(t)) == []
    said = []
    for tick in range(101, 200):  # from 10 s on, each status read 6 s after it was sent (depth's still queued)
        t = tick / 10
        if tick % 10 == 0:
            health.status_read(t + offset, t - 6.0)
        said += _events(health.update(t))
    assert said == []
    health.status_read(20.0 + offset, 19.95)  # caught up: the depth node's silence counts again
    assert _events(health.update(20.0)) == [(DEGRADED, DEPTH)]


def test_a_node_never_heard_is_watched_by_its_data_only():
    """Fusion fed without the nodes (a bag, a test publisher): no heartbeat ever, the data's thresholds rule."""
    health = VisionHealth(2.0, 30.0, 0.0, heartbeat_timeout_s=4.0)
    said = _run(health, 300.0, feeds=[(DETECTIONS, 0.2, 1.0, 1e9), (DEPTH, 5.0, 3.0, 1e9)])
    assert said == [] and not health.node_silent(DEPTH, 300.0)


def test_inputs_never_seen_wait_for_the_grace_then_are_out():
    health = VisionHealth(2.0, 30.0, 0.0)
    assert health.state(DEPTH, 10.0) == WAITING and _events(health.update(10.0)) == []
    assert _events(health.update(30.0)) == [(DEGRADED, DETECTIONS)]
    assert health.state(DEPTH, 30.0) == STALE


def test_outage_needs_its_restore_messages():
    outage = Outage(OutagePolicy(restore_messages=3))
    assert outage.update(0.0, silent=True) == "down"
    outage.arrived(1.0)
    outage.arrived(1.5)
    assert outage.update(1.6, silent=False) is None
    outage.arrived(2.0)
    assert outage.update(2.1, silent=False) == "up"


def test_guidance_watch_hears_fusion_stop_and_come_back_once_each():
    watch = GuidanceWatch(timeout_s=4.0, startup_grace_s=60.0, start_s=0.0)
    said = []
    for tick in range(0, 600):  # 60 s in 0.1 s ticks; fusion's heartbeat every second except 20..30 s
        t = tick / 10
        if tick % 10 == 0 and not 20 <= t < 30 and t >= 2:
            said += [(t, e) for e in watch.heartbeat(t, uptime_s=t - 1.0)]
        said += [(t, e) for e in watch.update(t)]
    assert [e for _, e in said] == [STOPPED, BACK]
    assert said[0][0] == pytest.approx(23.0, abs=0.15) and said[1][0] == pytest.approx(31.0)


def test_guidance_watch_says_when_fusion_never_comes_and_when_speech_was_restarted():
    never = GuidanceWatch(4.0, 60.0, 0.0)
    assert never.update(59.9) == [] and never.update(60.0) == [STOPPED]
    restarted = GuidanceWatch(4.0, 60.0, start_s=100.0)
    assert restarted.heartbeat(103.0, uptime_s=300.0) == [RESTARTED]
    assert restarted.heartbeat(104.0, uptime_s=301.0) == []
    fresh_graph = GuidanceWatch(4.0, 60.0, start_s=0.0)
    assert fresh_graph.heartbeat(5.0, uptime_s=6.0) == []


@pytest.mark.parametrize("language", sorted(TABLES))
def test_every_health_event_has_a_sentence(language):
    table = TABLES[language]
    sentences = set()
    for event in HEALTH_EVENTS:
        for reason in REASONS:
            request = SpeechRequest(event=event, urgency="info", priority=100.0, key="k", stamp_ns=0, reason=reason)
            sentence = table.sentence(request)
            assert sentence and "{" not in sentence
            sentences.add(sentence)
    assert len(sentences) >= 9  # distinct words for what the wearer must tell apart
    assert table.templates[f"{DEGRADED}_guidance"] != table.templates[f"{DEGRADED}_detections"]


def test_wav_files_are_numbered_on_from_what_is_there_never_overwritten(tmp_path):
    audio = Audio(samples=__import__("numpy").zeros((2205, 1), "int16"), sample_rate=22050)
    first = WavSink(tmp_path)
    paths = [first.play(audio, None, "warning_degraded") for _ in range(3)]
    second = WavSink(tmp_path)  # a restart in the same folder
    more = [second.play(audio, None, "info_restored") for _ in range(2)]
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["00001_warning_degraded.wav", "00002_warning_degraded.wav", "00003_warning_degraded.wav",
                     "00004_info_restored.wav", "00005_info_restored.wav"], names
    for path in paths + more:
        with wave.open(path, "rb") as stream:
            assert stream.getnframes() == 2205


def test_when_the_camera_dies_the_wearer_hears_one_outage_and_one_recovery():
    """Both inputs stop (the camera died) and come back, depth several seconds after detections (its first
    inference): "obstacle detection has stopped", then "restored", and no "distances are not available" in
    between. Depth that does not come back is still said to be out, after its own threshold."""
    health = VisionHealth(2.0, 30.0, 0.0)
    said = _run(health, 120.0, feeds=[(DETECTIONS, 0.2, 1.0, 60.0), (DETECTIONS, 0.2, 70.0, 1e9),
                                      (DEPTH, 2.0, 1.0, 60.0), (DEPTH, 2.0, 76.0, 1e9)])
    assert [(e, r) for _, e, r in said] == [(DEGRADED, DETECTIONS), (RESTORED, DETECTIONS)], said
    dead = VisionHealth(2.0, 30.0, 0.0)
    said = _run(dead, 120.0, feeds=[(DETECTIONS, 0.2, 1.0, 60.0), (DETECTIONS, 0.2, 70.0, 1e9),
                                    (DEPTH, 2.0, 1.0, 60.0)])
    assert [(e, r) for _, e, r in said] == [(DEGRADED, DETECTIONS), (RESTORED, DETECTIONS), (DEGRADED, DEPTH)]
    assert said[2][0] >= said[1][0] + 8.0  # 4 of depth's 2 s intervals after detections came back


def test_a_dead_camera_is_said_as_the_camera_once_and_its_return_once():
    """The camera killed at 60 s (its heartbeat stops; detections at 5 Hz and depth at 0.15 Hz stop with it, their
    nodes alive) and back at 70 s: "the camera has stopped" 4 s after its last status and detection (not "obstacle
    detection has stopped" at 62 s, held while the camera's status is late), "camera restored" with the first detections
    from its frames, and depth, slow to follow (its first image at 78 s), is not said to be out in between."""
    health = VisionHealth(2.0, 30.0, 0.0, heartbeat_timeout_s=4.0)
    said = _run(health, 200.0, feeds=[(DETECTIONS, 0.2, 1.0, 60.0), (DETECTIONS, 0.2, 71.0, 1e9),
                                      (DEPTH, 1 / 0.15, 3.0, 60.0), (DEPTH, 1 / 0.15, 78.0, 1e9)],
                beats=[(DETECTIONS, 1.0, 1e9), (DEPTH, 1.0, 1e9), (CAMERA, 1.0, 60.0), (CAMERA, 70.0, 1e9)])
    assert [(e, r) for _, e, r in said] == [(DEGRADED, CAMERA), (RESTORED, CAMERA)]
    assert 63.0 <= said[0][0] <= 64.0 and said[1][0] == 71.0  # 4 s after its last status and detection
    assert health.record() == {"detections_outages_said": "0", "depth_outages_said": "0",
                               "camera_outages_said": "1"}
    # A detector that dies while the camera lives is said as the detector, its outage not held.
    health = VisionHealth(2.0, 30.0, 0.0, heartbeat_timeout_s=4.0)
    said = _run(health, 120.0, feeds=[(DETECTIONS, 0.2, 1.0, 60.0), (DETECTIONS, 0.2, 75.0, 1e9),
                                      (DEPTH, 1.0, 1.0, 1e9)],
                beats=[(DETECTIONS, 1.0, 60.0), (DETECTIONS, 70.0, 1e9), (DEPTH, 1.0, 1e9), (CAMERA, 1.0, 1e9)])
    assert [(e, r) for _, e, r in said] == [(DEGRADED, DETECTIONS), (RESTORED, DETECTIONS)]
    assert said[0][0] == pytest.approx(62.0, abs=0.15) and said[1][0] == 75.0
    assert health.record()["detections_outages_said"] == "1"


def test_a_camera_restarted_quicker_than_the_timeout_is_told_by_its_new_pid():
    """The camera's new process is heard 3 s after the old one's last status; detections and depth, out since 52 s
    (held while the camera's status was late), were part of the camera's outage: not said, before or after (depth
    is back 2 s after detections)."""
    health = VisionHealth(2.0, 30.0, 0.0, heartbeat_timeout_s=4.0)
    said, t = [], 0.0
    while t <= 100.0:
        if abs(t - round(t)) < 1e-6:
            health.heard(DETECTIONS, t, process="12")
            health.heard(DEPTH, t, process="13")
            if not 50.0 < t < 53.0:
                health.heard(CAMERA, t, process="10" if t <= 50.0 else "20")
        if (t <= 50.0 or t >= 56.0) and abs(t * 5 - round(t * 5)) < 1e-6:
            health.seen(DETECTIONS, t)
        if (t <= 50.0 or t >= 58.0) and abs(t * 5 - round(t * 5)) < 1e-6:
            health.seen(DEPTH, t)
        said += [(round(t, 1), e, r) for e, r in _events(health.update(t))]
        t = round(t + 0.1, 3)
    assert said == [(53.0, DEGRADED, CAMERA), (56.0, RESTORED, CAMERA)]


def test_a_node_whose_data_flows_is_alive_even_when_its_statuses_are_late():
    """The detector's and the camera's statuses stop for 6 s (their executors starved while the detector's worker
    runs) but detections keep coming at 5 Hz: nothing is said. Both dead (nothing at all from 60 s): out 4 s after
    their last status, as before."""
    health = VisionHealth(2.0, 30.0, 0.0, heartbeat_timeout_s=4.0)
    said = _run(health, 120.0, feeds=[(DETECTIONS, 0.2, 1.0, 1e9), (DEPTH, 1.0, 1.0, 1e9)],
                beats=[(DETECTIONS, 1.0, 40.0), (DETECTIONS, 46.0, 1e9), (CAMERA, 1.0, 40.0), (CAMERA, 46.0, 1e9),
                       (DEPTH, 1.0, 1e9)])
    assert said == []
    health = VisionHealth(2.0, 30.0, 0.0, heartbeat_timeout_s=4.0)
    said = _run(health, 80.0, feeds=[(DETECTIONS, 2.0, 1.0, 60.0), (DEPTH, 1.0, 1.0, 1e9)],
                beats=[(DETECTIONS, 1.0, 60.0), (CAMERA, 1.0, 1e9), (DEPTH, 1.0, 1e9)])
    assert said == [(63.0, DEGRADED, DETECTIONS)]


def test_a_new_process_heard_after_its_outage_was_said_and_its_data_is_back_is_no_new_outage():
    """The camera killed at 60 s, out at 64 s; its new process's frames bring detections back at 70 s but fusion
    hears its first status (a new pid) only at 74 s (each publisher is discovered on its own): no second outage.
    The same for the detector."""
    for node in (CAMERA, DETECTIONS):
        health = VisionHealth(2.0, 30.0, 0.0, heartbeat_timeout_s=4.0)
        said, t = [], 0.0
        while t <= 120.0:
            for name in (CAMERA, DETECTIONS, DEPTH):
                new = name == node and t > 60.0
                # the new process's statuses come between two detections, from 74.5 s on
                if abs(t - round(t) - (0.5 if new else 0.0)) < 1e-6 and (not new or t >= 74.0):
                    health.heard(name, t, process="2" if new else "1")
            if (t <= 60.0 or t >= 70.0) and abs(t * 5 - round(t * 5)) < 1e-6:
                health.seen(DETECTIONS, t)
                health.seen(DEPTH, t)
            said += [(round(t, 1), e, r) for e, r in _events(health.update(t))]
            t = round(t + 0.1, 3)
        assert [(e, r) for _, e, r in said] == [(DEGRADED, node), (RESTORED, node)], (node, said)
        assert said[1][0] == 70.0
