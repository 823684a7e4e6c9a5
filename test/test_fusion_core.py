"""Fusion building blocks without ROS: geometry, distance inside a box, stamp pairing, tracking, bands."""
import math

import numpy as np
import pytest

from aria_nav.core.camera_model import PinholeIntrinsics
from aria_nav.core.fusion.bands import CLOSE, FAR, MEDIUM, UNKNOWN, VERY_CLOSE, band_of
from aria_nav.core.boxes import pixel_range
from aria_nav.core.fusion.box_distance import (BoxDistanceConfig, box_depth, clusters, occluders_of, sorted_median,
                                              sorted_percentile)
from aria_nav.core.fusion.geometry import AHEAD, LEFT, RIGHT, clock_of_bearing, direction_of_bearing
from aria_nav.core.fusion.pairing import StampPairer
from aria_nav.core.fusion.tracker import Measurement, ObstacleTracker

INTR = PinholeIntrinsics(width=640, height=480, fx=300.0, fy=300.0, cx=319.5, cy=239.5)
MS = 1_000_000


def column_at_bearing(bearing_deg):
    return INTR.cx + INTR.fx * math.tan(math.radians(bearing_deg))


@pytest.mark.parametrize("bearing,direction,clock", [(-35.0, LEFT, 11), (0.0, AHEAD, 12), (35.0, RIGHT, 1),
                                                     (-14.0, AHEAD, 12), (16.0, AHEAD, 1)])
def test_direction_and_clock_at_known_bearings(bearing, direction, clock):
    u = column_at_bearing(bearing)
    assert INTR.bearing_deg(u) == pytest.approx(bearing, abs=1e-6)
    assert direction_of_bearing(bearing, INTR.bearing_deg(640 * 0.8)) == direction
    assert clock_of_bearing(bearing) == clock


def test_centre_zone_limits_and_clock_wraps():
    # +-30% of 640 px around the middle: columns 128..512, i.e. bearings within +-32.6 deg, are ahead.
    half = INTR.bearing_deg(640 * 0.8)
    assert half == pytest.approx(32.6, abs=0.1)
    assert direction_of_bearing(-half - 0.01, half) == LEFT
    assert direction_of_bearing(-half, half) == AHEAD
    assert direction_of_bearing(half, half) == AHEAD
    assert direction_of_bearing(half + 0.01, half) == RIGHT
    assert [clock_of_bearing(b) for b in (-90, -60, 60, 90, 180, -180)] == [9, 10, 2, 3, 6, 6]


def scene_depth(background=8.0):
    return np.full((480, 640), background, np.float32)


def test_box_distance_ignores_background_nan_and_one_noisy_pixel():
    depth = scene_depth()
    box = np.array([200, 100, 300, 400], np.float32)
    # A person-like shape: narrower than its box, so the box's edges see the background at 8 m.
    depth[100:400, 225:275] = 2.0
    depth[100:400, 250:275] = 2.3  # far shoulder
    depth[200:220, 240:260] = np.nan  # holes the depth stage could not estimate
    depth[300, 250] = 0.2  # one wild pixel
    found = box_depth(depth, box, (640, 480))
    assert found.depth_z == pytest.approx(2.0)
    assert 225 <= found.u < 250 and found.v == 250.0  # placed on the nearest part
    # The median of the whole box is the background: what a naive estimate would say.
    assert np.nanmedian(depth[100:400, 200:300]) == pytest.approx(8.0)


def test_box_distance_scales_boxes_to_a_smaller_depth_image_and_reports_too_few_valid():
    depth = np.full((240, 320), np.nan, np.float32)
    depth[50:200, 100:150] = 3.0  # the object at half resolution
    found = box_depth(depth, np.array([200, 100, 300, 400]), (640, 480))
    assert found.depth_z == pytest.approx(3.0)
    empty = box_depth(np.full((240, 320), np.nan, np.float32), np.array([200, 100, 300, 400]), (640, 480))
    assert math.isnan(empty.depth_z) and empty.valid_fraction == 0.0
    sparse = scene_depth(np.nan)
    sparse[250, 250] = 1.0  # one valid pixel out of thousands
    assert math.isnan(box_depth(sparse, np.array([200, 100, 300, 400]), (640, 480),
                                BoxDistanceConfig(min_valid_fraction=0.1)).depth_z)


def test_box_distance_at_the_image_border_and_degenerate_boxes():
    depth = scene_depth(4.0)
    assert box_depth(depth, np.array([-50, -50, 10, 10]), (640, 480)).depth_z == pytest.approx(4.0)
    assert box_depth(depth, np.array([639, 479, 639, 479]), (640, 480)).depth_z == pytest.approx(4.0)


def test_box_distance_statistics_on_sorted_values_are_numpys():
    rng = np.random.default_rng(3)
    for size in (1, 2, 3, 10, 11, 257):
        for _ in range(20):
            z = np.sort(rng.lognormal(1.0, 0.8, size).astype(np.float32))
            assert sorted_median(z) == float(np.median(z))
            for percentile in (0.0, 2.0, 10.0, 50.0, 97.5, 100.0):
                assert sorted_percentile(z, percentile) == float(np.percentile(z, percentile))


def clusters_by_walking_the_bins(values, bin_width, min_share):
    """The definition of clusters(): runs of dense bins, walked one bin at a time."""
    logs = np.log(values)
    bins = np.floor((logs - logs[0]) / bin_width).astype(np.int64)
    dense = np.bincount(bins) >= max(1, min_share * values.size)
    found, start = [], None
    for index, is_dense in enumerate(np.append(dense, False)):
        if is_dense and start is None:
            start = index
        elif not is_dense and start is not None:
            found.append((np.searchsorted(bins, start, "left"), np.searchsorted(bins, index - 1, "right")))
            start = None
    return found


def test_depth_clusters_are_the_runs_of_dense_bins():
    rng = np.random.default_rng(4)
    for _ in range(200):
        parts = [rng.normal(rng.uniform(0.5, 20.0), rng.uniform(0.01, 0.5), rng.integers(1, 300))
                 for _ in range(rng.integers(1, 5))]
        z = np.sort(np.abs(np.concatenate(parts)).astype(np.float32) + 0.1)
        assert clusters(z, 0.05, 0.02) == clusters_by_walking_the_bins(z, 0.05, 0.02)


def test_pixel_range_covers_the_interval_with_whole_pixels_clipped_to_the_grid():
    def by_numpy(low, high, scale, size):
        first = int(np.clip(np.floor(low * scale), 0, size - 1))
        return first, int(np.clip(np.ceil(high * scale), first + 1, size))

    for low, high in ((10.2, 50.7), (-30.0, 5.0), (700.0, 900.0), (12.0, 12.0), (0.0, 704.0), (-np.inf, np.inf),
                      (703.9, 704.0), (3.5, 3.6)):
        assert pixel_range(low, high, 259 / 704, 259) == by_numpy(low, high, 259 / 704, 259), (low, high)
    with pytest.raises(ValueError):
        pixel_range(math.nan, 3.0, 1.0, 10)


def test_pairer_exact_stamps_in_either_order():
    pairer = StampPairer(tolerance_s=0.05, max_wait_s=0.5)
    assert pairer.add_detections(100 * MS, "d1", 0.0) == []  # waits for depth
    pairs = pairer.add_depth(100 * MS, "z1", 0.01)
    assert [(p.detections, p.depth) for p in pairs] == [("d1", "z1")]
    assert pairer.add_depth(200 * MS, "z2", 0.1) == []
    pairs = pairer.add_detections(200 * MS, "d2", 0.11)  # depth already there: resolved at once
    assert [(p.detections, p.depth) for p in pairs] == [("d2", "z2")]
    assert (pairer.paired, pairer.misses, pairer.waiting) == (2, 0, 0)


def test_pairer_approximate_nearest_within_tolerance_and_reuse():
    pairer = StampPairer(tolerance_s=0.05, max_wait_s=0.5)
    pairer.add_depth(100 * MS, "z100", 0.0)
    pairer.add_detections(133 * MS, "d133", 0.0)  # nearest so far is 33 ms away; a later depth may be nearer
    pairs = pairer.add_depth(166 * MS, "z166", 0.05)
    assert [(p.detections, p.depth, p.depth_stamp_ns) for p in pairs] == [("d133", "z100", 100 * MS)]
    pairs = pairer.add_detections(160 * MS, "d160", 0.06)
    assert [(p.detections, p.depth) for p in pairs] == [("d160", "z166")]  # depth images serve several frames


def test_pairer_never_waits_beyond_max_wait_and_counts_misses():
    pairer = StampPairer(tolerance_s=0.05, max_wait_s=0.5)
    pairer.add_depth(0, "z0", 0.0)
    assert pairer.add_detections(300 * MS, "d300", 1.0) == []
    assert pairer.poll(1.2) == []
    pairs = pairer.poll(1.5)  # waited long enough; the only depth is 300 ms away
    assert [(p.detections, p.depth) for p in pairs] == [("d300", None)]
    assert pairer.misses == 1


def test_pairer_caches_are_bounded():
    pairer = StampPairer(tolerance_s=0.01, max_wait_s=100.0, depth_cache=2, pending_cache=3)
    for i in range(5):
        pairer.add_depth(i * 1000 * MS, i, 0.0)
    assert len(pairer._depths) == 2
    resolved = []
    for i in range(10):
        resolved += pairer.add_detections((100 + i) * 1000 * MS, f"d{i}", 0.0)
    assert pairer.waiting == 3
    assert [p.detections for p in resolved] == [f"d{i}" for i in range(7)]  # oldest evicted first, as misses
    assert pairer.misses == 7
    assert [p.detections for p in pairer.drain()] == ["d7", "d8", "d9"] and pairer.waiting == 0


def person(box, distance=2.0):
    return Measurement(box=np.array(box, np.float32), class_id=0, score=0.9, distance_m=distance)


def test_tracker_keeps_ids_counts_runs_and_forgets():
    tracker = ObstacleTracker()
    seen, _ = tracker.update([person([100, 100, 200, 400])], 0.0)
    first = seen[0].track_id
    for i in range(1, 4):
        seen, left = tracker.update([person([100 + 5 * i, 100, 200 + 5 * i, 400])], i * 0.1)
        assert seen[0].track_id == first and left == []
    assert seen[0].consecutive == 4 and seen[0].longest_run == 4
    for i in range(tracker.config.max_missed):
        seen, left = tracker.update([], 0.4 + i * 0.1)
        assert left == []
    seen, left = tracker.update([], 1.0)
    assert [t.track_id for t in left] == [first] and tracker.tracks == {}


def test_tracker_separates_classes_and_nearby_objects():
    tracker = ObstacleTracker()
    chair = Measurement(box=np.array([100, 100, 200, 400], np.float32), class_id=56, score=0.8, distance_m=2.0)
    seen, _ = tracker.update([person([100, 100, 200, 400]), chair], 0.0)
    assert len({t.track_id for t in seen}) == 2
    seen2, _ = tracker.update([chair, person([100, 100, 200, 400])], 0.1)  # order swapped: ids follow the class
    assert [t.track_id for t in seen2] == [seen[1].track_id, seen[0].track_id]


def test_tracker_follows_a_fast_move_without_overlap_but_not_a_jump_across_the_image():
    tracker = ObstacleTracker()
    first = tracker.update([person([100, 100, 150, 300])], 0.0)[0][0].track_id
    moved = tracker.update([person([160, 100, 210, 300])], 0.1)[0][0]  # no overlap, centre 60 px away
    assert moved.track_id == first
    far = tracker.update([person([500, 100, 550, 300])], 0.2)[0][0]
    assert far.track_id != first


def test_tracker_prefers_the_larger_overlap_and_keeps_every_id_in_a_crowd():
    tracker = ObstacleTracker()
    near, far = (t.track_id for t in tracker.update([person([100, 100, 200, 400]), person([150, 100, 250, 400])],
                                                   0.0)[0])
    # overlaps both tracks, the second one more: it continues the second, and the other box the first
    seen, _ = tracker.update([person([140, 100, 240, 400]), person([95, 100, 195, 400])], 0.1)
    assert [t.track_id for t in seen] == [far, near]

    tracker = ObstacleTracker()
    grid = np.array([[x, y, x + 40, y + 90] for x in range(0, 2000, 50) for y in range(0, 1000, 100)], np.float32)
    first = {tuple(box): t.track_id for box, t in zip(grid.tolist(), tracker.update([person(b) for b in grid], 0.0)[0])}
    order = np.random.default_rng(3).permutation(len(grid))  # 400 people, moved 4 px, in another order
    seen, left = tracker.update([person(grid[i] + [4, 0, 4, 0]) for i in order], 0.1)
    assert len(grid) == 400 and left == []
    assert [t.track_id for t in seen] == [first[tuple(grid[i].tolist())] for i in order]


def test_tracker_flicker_resets_the_run_and_approach_speed_is_measured():
    tracker = ObstacleTracker()
    for i in range(6):
        measurements = [person([100, 100, 200, 400])] if i % 2 == 0 else []
        seen, _ = tracker.update(measurements, i * 0.1)
    track = next(iter(tracker.tracks.values()))
    assert track.longest_run == 1 and track.hits == 3
    tracker = ObstacleTracker()
    for i in range(31):  # 1 m/s: once the distance filter has settled, the speed is exact
        seen, _ = tracker.update([person([100, 100, 200, 400], distance=6.0 - 0.1 * i)], i * 0.1)
    assert seen[0].approach_mps == pytest.approx(1.0, abs=0.01)
    # The median of the last three frames, each carried forward at the approach speed: no lag behind the approach.
    assert seen[0].distance_m == pytest.approx(3.0, abs=0.01)


def test_bands_with_hysteresis():
    limits = (1.5, 3.0, 5.0)
    assert [band_of(d, limits) for d in (0.5, 1.5, 2.9, 4.0, 7.0, float("nan"))] == \
        [VERY_CLOSE, CLOSE, CLOSE, MEDIUM, FAR, UNKNOWN]
    assert band_of(3.1, limits, previous=CLOSE, hysteresis_m=0.2) == CLOSE  # noise around the limit
    assert band_of(3.25, limits, previous=CLOSE, hysteresis_m=0.2) == MEDIUM
    assert band_of(2.99, limits, previous=MEDIUM, hysteresis_m=0.2) == CLOSE  # nearer: at once
    assert band_of(1.0, limits, previous=FAR, hysteresis_m=0.2) == VERY_CLOSE  # big jumps go straight through
    assert band_of(5.1, limits, previous=VERY_CLOSE, hysteresis_m=0.2) == MEDIUM  # 5.1 - 0.2 is below 5


def test_a_recording_that_ends_is_announced_once_and_never_as_degraded():
    from aria_nav.core.fusion.watchdog import DEPTH, DETECTIONS, VisionHealth

    health = VisionHealth(stale_after_s=2.0, startup_grace_s=5.0, start_s=0.0)
    health.seen(DETECTIONS, 1.0)
    health.seen(DEPTH, 1.0)
    assert health.update(1.5) == []
    assert health.end_of_input() is True and health.end_of_input() is False  # said once
    assert [health.update(t) for t in (4.0, 30.0, 300.0)] == [[], [], []]  # silence is no fault now
    health.input_started(400.0)  # the camera starts a new recording: the watch starts afresh, with its grace
    assert health.update(404.0) == []
    changes = health.update(406.0)
    assert [(c.degraded, c.reason) for c in changes] == [(True, DETECTIONS)]


def test_box_distance_is_the_object_not_a_person_in_front_of_it():
    depth = scene_depth(12.0)
    far_box = np.array([300, 150, 360, 330], np.float32)  # a person at 6 m
    near_box = np.array([250, 100, 345, 479], np.float32)  # a person at 2 m covering most of it
    depth[160:330, 305:355] = 6.0
    depth[110:479, 260:335] = 2.0
    boxes = np.stack([far_box, near_box])
    assert occluders_of(boxes, 0).tolist() == [near_box.tolist()] and len(occluders_of(boxes, 1)) == 0
    assert box_depth(depth, far_box, (640, 480)).depth_z == pytest.approx(2.0)  # blind to occlusion
    in_front = [(other, box_depth(depth, other, (640, 480)).depth_z) for other in occluders_of(boxes, 0)]
    assert box_depth(depth, far_box, (640, 480), occluders=in_front).depth_z == pytest.approx(6.0)
    assert len(occluders_of(boxes, 1)) == 0 and box_depth(depth, near_box, (640, 480)).depth_z == pytest.approx(2.0)
    # Both cut by the image's bottom edge: the taller box is in front.
    cut = np.array([[0, 168, 64, 479], [0, 93, 251, 479]], np.float32)
    assert occluders_of(cut, 0).tolist() == [cut[1].tolist()] and len(occluders_of(cut, 1)) == 0


def test_box_distance_of_a_person_seen_through_a_gap_between_two_in_front():
    """The crowd scene's case: a person at 6 m between two at 2 m whose boxes (looser than the people) overlap its
    box. Fusion measures a box in a crop of its own pixels; the occluders are measured in their own boxes, and
    where one's box overlaps only the far person is seen: that is not the occluder's depth."""
    depth = scene_depth(12.0)
    far_box = np.array([300, 150, 340, 330], np.float32)
    left_box = np.array([200, 100, 306, 479], np.float32)  # the person in it ends at x 300
    right_box = np.array([318, 100, 420, 479], np.float32)
    depth[160:330, 300:340] = 6.0
    depth[110:479, 204:300] = 2.0
    depth[110:479, 318:416] = 2.1
    boxes = np.stack([far_box, left_box, right_box])
    assert occluders_of(boxes, 0).tolist() == [left_box.tolist(), right_box.tolist()]
    in_front = [(other, box_depth(depth, other, (640, 480)).depth_z) for other in occluders_of(boxes, 0)]
    assert [d for _, d in in_front] == pytest.approx([2.0, 2.1])
    assert box_depth(depth, far_box, (640, 480), occluders=in_front).depth_z == pytest.approx(6.0)
    # In the far box's crop, as fusion measures it (the occluders' boxes in the crop's pixels).
    crop = depth[150:330, 300:340]
    shift = np.array([300, 150, 300, 150], np.float32)
    in_crop = [(other - shift, own) for other, own in in_front]
    assert box_depth(crop, far_box - shift, (40, 180), occluders=in_crop).depth_z == pytest.approx(6.0)


def test_box_distance_prefers_the_nearest_large_cluster_and_measures_the_nearest_part():
    depth = scene_depth(10.0)
    box = np.array([100, 100, 300, 300], np.float32)
    depth[100:300, 100:300] = 3.0
    depth[140:160, 190:210] = 1.0  # something small and near inside the box (4% of the core): not the object
    assert box_depth(depth, box, (640, 480)).depth_z == pytest.approx(3.0)


def test_box_distance_finds_the_nearest_part_outside_the_core_where_the_floor_is_known():
    """A bar seen at an angle: 3 m at its box's left edge, 4 m at its right; below it the floor, nearer still
    at the box's bottom. Without a floor mask only the core is measured (its edges may be floor); with one, the
    object's cluster over the whole box, the floor left out."""
    depth = scene_depth(10.0)
    box = np.array([100, 100, 300, 300], np.float32)
    depth[150:250, 100:300] = np.linspace(3.0, 4.0, 200, dtype=np.float32)[None, :]
    depth[250:300, 100:300] = np.linspace(3.0, 2.5, 50, dtype=np.float32)[:, None]  # the floor towards the wearer
    floor = np.zeros(depth.shape, bool)
    floor[250:300] = True
    assert box_depth(depth, box, (640, 480)).depth_z == pytest.approx(3.30, abs=0.02)  # the core: 3.25-3.75 m
    found = box_depth(depth, box, (640, 480), floor=floor)
    assert found.depth_z == pytest.approx(3.10, abs=0.02) and 100 <= found.u < 130  # its 10th percentile
    # Something small in front of it is still not the object, nor is the floor when it is all there is.
    depth[170:180, 280:290] = 1.0
    assert box_depth(depth, box, (640, 480), floor=floor).depth_z == pytest.approx(3.10, abs=0.02)
    assert box_depth(depth, box, (640, 480), floor=np.ones(depth.shape, bool)).depth_z == pytest.approx(3.30, abs=0.02)


def test_tracker_distance_filter_ignores_one_glitched_frame_and_holes():
    tracker = ObstacleTracker()
    distances = [4.5] * 5 + [1.0] + [4.5] * 3 + [math.nan, math.nan] + [4.5]
    tracked = []
    for i, distance in enumerate(distances):
        seen, _ = tracker.update([person([100, 100, 200, 400], distance=distance)], i * 0.1)
        tracked.append(seen[0].distance_m)
    assert tracked == pytest.approx([4.5] * len(distances))
    assert seen[0].approach_mps == pytest.approx(0.0, abs=1e-6)


def test_tracker_distance_filter_stays_within_what_its_frames_measured():
    """An approach at 2 m/s that stops (the wearer halts; an object passing beside leaves the view): the approach
    speed, an average over the last second, would carry the earlier frames on beyond the distance every frame now
    measures. A steady approach is still followed without lag."""
    tracker = ObstacleTracker()
    distances = [5.0 - 0.2 * i for i in range(10)] + [3.2] * 6
    tracked = []
    for i, distance in enumerate(distances):
        seen, _ = tracker.update([person([100, 100, 200, 400], distance=distance)], i * 0.1)
        tracked.append(seen[0].distance_m)
    assert tracked[6:10] == pytest.approx(distances[6:10], abs=0.01)  # no lag once the speed is known
    assert min(tracked[10:]) == pytest.approx(3.2)  # never nearer than measured after the stop


def test_a_young_tracks_distance_is_not_held_back_by_frames_before_a_gap():
    """A track seen on two frames, then not for 0.7 s (frames dropped at start-up), then at 3.9 m: it has no speed
    to carry the old frames forward with, and they are too old to stand for now."""
    tracker = ObstacleTracker()
    for t, distance in ((0.0, 4.75), (0.1, 4.7), (0.9, 3.9)):
        seen, _ = tracker.update([person([100, 100, 200, 400], distance=distance)], t)
    assert seen[0].distance_m == pytest.approx(3.9)
