"""How far the object inside a detection box is, from a metric depth image: the nearest part of the object, not
whatever is nearest in its rectangle.

1. The core: the central `core_fraction` of the box says which surface is the object. Near a box's edges the depth
   image shows what is behind or beside the object (the background leaks in) or the floor in front of it. Where
   the caller knows the floor (`floor`, a mask of the depth image: fusion gives it with metric depth, from each
   pixel's height in the wearer frame), its pixels are left out, unless that leaves fewer than
   `min_valid_fraction` of the region (an object flat on the floor).
2. The object's depth cluster: the valid depths are histogrammed in bins `cluster_bin` wide in log-depth (5%: a
   relative width, as depth noise is); runs of bins holding at least `min_bin_share` of the pixels are clusters
   (the sparse bins between two surfaces split them, also where a depth model blurs the edge between them). The
   object is the nearest cluster holding at least `min_cluster_share` of the pixels (a few pixels of something
   nearer, or one wild pixel, are not the object; a chair's frame against the wall behind it is), else the
   largest.
3. Occluders out: another detection overlapping this box and standing in front of it (its box reaches lower in
   the image: its foot point is nearer on the floor; both cut by the image's bottom edge: the taller one) covers
   part of it (a crowd: the person in front covers the one behind). Clusters at that occluder's depth where it
   overlaps this box (within `occluder_margin`; the occluder measured in its own box, then found in the overlap)
   are not this object's, and are left out before choosing; if nothing is left, they stay.
4. The whole object, with the floor left out: an elongated object seen at an angle (a bicycle passing beside the
   path) has its nearest part at the box's edge, outside the core. The same clusters are found over the whole box
   (floor and occluders left out as above), and the one holding the median of the core's cluster is the object;
   a nearer one with at least `min_cluster_share` of the object's own pixels is its nearest part too (a handlebar
   cut off in depth from the wheel below it, or something in front of it in its box). Without a floor mask (or
   where the floor cannot be left out) the core's cluster stands: in a box the floor runs continuously in depth
   from the object's foot towards the wearer and would join the object's cluster (a loose box around a person
   would read up to a quarter near).
5. The nearest part: the `percentile` (10th) of the cluster's values. Fusion passes each pixel's horizontal range
   in the gravity-aligned wearer frame (core.wearer_frame), so a wide or off-axis object (a car beside the path)
   is measured where it is nearest to the wearer along the floor, not at its centre column; the low percentile
   rather than the minimum, which is one noisy pixel.
NaN, zero and negative depths are invalid (the depth stage marks what it could not estimate with NaN), and so are
depths beyond MAX_DEPTH_M. A box wholly outside the image has no distance (one partly outside is measured where it
meets the image); fewer valid pixels than `min_valid_fraction` of the core: no distance.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import numpy as np

from aria_nav.core.boxes import pixel_range

MAX_DEPTH_M = 1000.0
# An occluder's surface where it overlaps another box is within this factor of its own (nearest-part) depth: a
# person 1 m away and 0.5 m to the side of the axis is 1.12 m away there; one behind it in a crowd is farther.
OCCLUDER_REACH = 1.5


@dataclass(frozen=True)
class BoxDistanceConfig:
    core_fraction: float = 0.5  # width and height of the central region, as a fraction of the box's
    percentile: float = 10.0  # low percentile of the object cluster's ranges: its nearest part
    min_valid_fraction: float = 0.1  # fewer valid pixels than this fraction of the region: no distance
    cluster_bin: float = 0.05  # width of the depth histogram's bins, in log-depth (relative depth)
    min_bin_share: float = 0.02  # a bin with fewer of the valid pixels separates clusters
    min_cluster_share: float = 0.2  # the nearest cluster with this share of the valid pixels is the object
    occluder_margin: float = 0.15  # a cluster within this relative depth of an occluder's is the occluder's


@dataclass(frozen=True)
class BoxDepth:
    depth_z: float  # metres (the input's values: z-depth, or horizontal range) of the nearest part; NaN: too few
    u: float  # image column (source image pixels) of the nearest part, and the region's centre row
    v: float
    valid_fraction: float


def core_region(box: np.ndarray, core_fraction: float) -> Tuple[float, float, float, float]:
    """The central `core_fraction` of a box (x1, y1, x2, y2), same centre."""
    x1, y1, x2, y2 = (float(c) for c in box)
    half_w, half_h = (x2 - x1) * core_fraction / 2.0, (y2 - y1) * core_fraction / 2.0
    cx, cy = (x1 + x2) / 2.0, (y1 + y2) / 2.0
    return cx - half_w, cy - half_h, cx + half_w, cy + half_h


def occluder_indices(boxes: np.ndarray, index: int) -> np.ndarray:
    """Indices of the boxes (N, 4) that overlap box `index` and stand in front of it on a common floor: their bottom
    edge is lower in the image (one pixel of slack), or, with both bottoms equal (cut by the image's edge), they are
    taller."""
    box = boxes[index]
    overlapping = ((boxes[:, 0] < box[2]) & (boxes[:, 2] > box[0]) & (boxes[:, 1] < box[3]) & (boxes[:, 3] > box[1]))
    level = np.abs(boxes[:, 3] - box[3]) <= 1.0
    in_front = (~level & (boxes[:, 3] > box[3])) | (level & (boxes[:, 1] < box[1] - 1.0))
    in_front[index] = False
    return np.flatnonzero(overlapping & in_front)


def occluders_of(boxes: np.ndarray, index: int) -> np.ndarray:
    """The boxes of occluder_indices."""
    return boxes[occluder_indices(boxes, index)]


def clusters(values: np.ndarray, bin_width: float, min_share: float):
    """(first, last) index ranges into the sorted `values` of its depth clusters, nearest first (see above)."""
    logs = np.log(values)
    bins = np.floor((logs - logs[0]) / bin_width).astype(np.int64)
    counts = np.bincount(bins)
    dense = counts >= max(1, min_share * values.size)
    # Runs of dense bins: [start, end) bin ranges from the steps of the padded mask.
    steps = np.diff(np.concatenate(([False], dense, [False])).astype(np.int8))
    starts, ends = np.flatnonzero(steps == 1), np.flatnonzero(steps == -1)
    return list(zip(np.searchsorted(bins, starts, "left").tolist(),
                    np.searchsorted(bins, ends - 1, "right").tolist()))


def sorted_median(z: np.ndarray) -> float:
    """np.median of an ascending, non-empty array, read off its middle instead of sorting it again."""
    middle = z.size // 2
    return float(z[middle]) if z.size % 2 else float((z[middle - 1] + z[middle]) / 2)


def sorted_percentile(z: np.ndarray, percentile: float) -> float:
    """np.percentile (linear interpolation) of an ascending, non-empty array, without sorting it again: numpy's
    arithmetic (its index, and the interpolation in the array's precision from the nearer end)."""
    quantile = percentile / 100.0
    position = z.size * quantile + (1.0 - quantile) - 1.0
    below = min(max(math.floor(position), 0), z.size - 1)
    fraction = position - below
    low, high = z[below], z[min(below + 1, z.size - 1)]
    step = high - low
    return float(high - step * (1 - fraction) if fraction >= 0.5 else low + step * fraction)


def valid_fraction_of(mask: np.ndarray) -> float:
    """The share of True in a boolean mask (mask.mean() without its float conversion)."""
    return np.count_nonzero(mask) / mask.size


def _valid_region(depth: np.ndarray, region: Tuple[float, float, float, float], scale: Tuple[float, float]):
    """(values, valid mask, (first depth row, first depth column)) of the whole depth pixels covering `region`
    (image pixels), at least one, clipped to the image."""
    depth_h, depth_w = depth.shape[:2]
    (x1, y1, x2, y2), (sx, sy) = region, scale
    c1, c2 = pixel_range(x1, x2, sx, depth_w)
    r1, r2 = pixel_range(y1, y2, sy, depth_h)
    values = np.asarray(depth[r1:r2, c1:c2], dtype=np.float32)
    return values, np.isfinite(values) & (values > 0) & (values <= MAX_DEPTH_M), (r1, c1)


def _off_floor(valid: np.ndarray, floor: Optional[np.ndarray], origin: Tuple[int, int], min_fraction: float
               ) -> Optional[np.ndarray]:
    """The valid pixels of a region (at `origin` in the depth image) not on the `floor`; None without a floor mask
    or where that leaves fewer than `min_fraction` of the region (an object flat on the floor, a floor wrongly
    placed)."""
    if floor is None:
        return None
    r1, c1 = origin
    above = valid & ~floor[r1:r1 + valid.shape[0], c1:c1 + valid.shape[1]]
    return above if above.any() and valid_fraction_of(above) >= min_fraction else None


def _occluder_depth(depth: np.ndarray, box: np.ndarray, occluder: np.ndarray, own_depth: float,
                    scale: Tuple[float, float], config: BoxDistanceConfig) -> float:
    """The occluder's depth where it overlaps `box`: of the clusters in the overlap, the one nearest its own
    measured depth (an off-axis surface's range grows away from its nearest part), NaN where none is within
    OCCLUDER_REACH of it: the occluder's box is looser than the person, and the overlap shows only what is behind
    (the person seen through a gap)."""
    overlap = (max(box[0], occluder[0]), max(box[1], occluder[1]), min(box[2], occluder[2]), min(box[3], occluder[3]))
    values, valid, _ = _valid_region(depth, overlap, scale)
    if not np.isfinite(own_depth) or not valid.any():
        return own_depth
    z = np.sort(values[valid])
    found = clusters(z, config.cluster_bin, config.min_bin_share) or [(0, z.size)]
    nearest = min((sorted_median(z[first:last]) for first, last in found),
                  key=lambda m: abs(np.log(m / own_depth)))
    return nearest if abs(np.log(nearest / own_depth)) <= np.log(OCCLUDER_REACH) else float("nan")


def _own_clusters(z: np.ndarray, blocked: Sequence[float], config: BoxDistanceConfig):
    """The depth clusters of the sorted `z` (nearest first), less those at an occluder's depth (`blocked`) unless
    nothing would be left."""
    found = clusters(z, config.cluster_bin, config.min_bin_share) or [(0, z.size)]  # no dense bin: all of them
    own = [(first, last) for first, last in found
           if not any(abs(sorted_median(z[first:last]) / b - 1.0) <= config.occluder_margin
                      for b in blocked if np.isfinite(b))]
    return own or found


def _sorted_pixels(values: np.ndarray, valid: np.ndarray, c1: int, sx: float):
    """(sorted valid values, the source image column of each) of a region whose first depth column is `c1`."""
    columns = (np.arange(c1, c1 + values.shape[1]) + 0.5) / sx
    z, u_of = values[valid], np.broadcast_to(columns[None, :], values.shape)[valid]
    order = np.argsort(z, kind="stable")
    return z[order], u_of[order]


def box_depth(depth: np.ndarray, box: np.ndarray, image_size: Tuple[int, int],
              config: BoxDistanceConfig = BoxDistanceConfig(),
              occluders: Sequence[Tuple[np.ndarray, float]] = (), floor: Optional[np.ndarray] = None) -> BoxDepth:
    """Depth of the nearest part of the object in `box` (pixels of an image of `image_size` = (width, height));
    the depth image may have another resolution of the same camera (boxes are scaled to it); `occluders`: (box,
    its own depth) of each box in front of it, measured in its own box without occluders (one level is enough for
    people in front of people); `floor`: a mask of the depth image's pixels on the floor (None: not known)."""
    width, height = image_size
    depth_h, depth_w = depth.shape[:2]
    x1, y1, x2, y2 = core_region(box, config.core_fraction)
    u, v = (x1 + x2) / 2.0, (y1 + y2) / 2.0
    scale = sx, _ = depth_w / width, depth_h / height
    if box[2] <= 0 or box[3] <= 0 or box[0] >= width or box[1] >= height:  # nothing of the box in view
        return BoxDepth(float("nan"), u, v, 0.0)
    core, valid, origin = _valid_region(depth, (x1, y1, x2, y2), scale)
    valid_fraction = valid_fraction_of(valid)
    if not valid.any() or valid_fraction < config.min_valid_fraction:
        return BoxDepth(float("nan"), u, v, valid_fraction)
    above = _off_floor(valid, floor, origin, config.min_valid_fraction)
    valid = valid if above is None else above
    blocked = [_occluder_depth(depth, box, other, own, scale, config) for other, own in occluders]
    z, u_of = _sorted_pixels(core, valid, origin[1], sx)
    found = _own_clusters(z, blocked, config)
    total = sum(last - first for first, last in found)
    shares = [(last - first) / total for first, last in found]
    first, last = next((c for c, share in zip(found, shares) if share >= config.min_cluster_share),
                       found[int(np.argmax(shares))])
    z, u_of = z[first:last], u_of[first:last]
    core_median = sorted_median(z)
    # Its nearest part may lie outside the core (an elongated object seen at an angle, its near end at the box's
    # edge): the object's cluster over the whole box, the one holding the core's median. Only with the floor left
    # out: in a box, the floor runs continuously from the object's foot towards the wearer.
    whole, valid, origin = _valid_region(depth, tuple(float(c) for c in box), scale)
    above = _off_floor(valid, floor, origin, config.min_valid_fraction)
    if above is not None:
        z_all, u_all = _sorted_pixels(whole, above, origin[1], sx)
        found = _own_clusters(z_all, blocked, config)
        index = next((i for i, (first, last) in enumerate(found) if z_all[first] <= core_median <= z_all[last - 1]),
                     None)
        if index is not None:
            # A nearer cluster of at least `min_cluster_share` of the object's own pixels is a part of it cut off
            # in depth (a handlebar above the wheel), or something in front of it in its box: either way the
            # nearest thing there.
            last = found[index][1]
            least = config.min_cluster_share * (last - found[index][0])
            first = next(start for start, end in found[:index + 1] if end - start >= least)
            z, u_of = z_all[first:last], u_all[first:last]
    target = sorted_percentile(z, config.percentile)
    nearest = int(np.argmin(np.abs(z - target)))
    return BoxDepth(float(z[nearest]), float(u_of[nearest]), v, valid_fraction)
