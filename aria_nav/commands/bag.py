"""`aria-nav bag record|play|info`: rosbag2 recordings (MCAP or SQLite 3) of the graph, without the ros2 CLI.

Bags are standard rosbag2 bags with message definitions: `ros2 bag info/play` and MCAP tools read them too.
A bag that cannot be read or written is one line on stderr and exit code 2. See docs/bags.md.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

EXIT_BAG_ERROR = 2
DEFAULT_CLOCK_HZ = 40.0


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value >= 0.0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"'{text}' is not a number >= 0")
    return value


def _positive(text: str) -> float:
    value = _non_negative(text)
    if value == 0.0:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number > 0")
    return value


def register(subparsers) -> None:
    parser = subparsers.add_parser("bag", help="record, play or describe rosbag2 bags (MCAP or SQLite 3)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    record = actions.add_parser("record", help="record topics of the running graph into a new bag; "
                                               "Ctrl-C (SIGINT) or SIGTERM stops and closes the bag")
    record.add_argument("topics", nargs="*", help="topics to record (recorded once they have a publisher)")
    record.add_argument("--all", "-a", action="store_true", help="record every topic except hidden ones")
    record.add_argument("-o", "--output", type=Path, required=True, help="bag folder to create (must not exist)")
    record.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap", help="default: %(default)s")
    record.add_argument("--duration", type=_positive, help="stop after this many seconds")
    record.set_defaults(func=record_bag)

    play = actions.add_parser("play", help="publish a bag's messages with their recorded timing; Ctrl-C stops")
    play.add_argument("bag", type=Path, help="bag folder, or a .mcap / .db3 file")
    play.add_argument("--rate", "-r", type=_non_negative, default=1.0,
                      help="speed factor of the recorded timing, 0 = as fast as possible (default: %(default)s)")
    play.add_argument("--fast", action="store_true", help="as fast as possible (same as --rate 0)")
    play.add_argument("--topics", nargs="+", help="play only these topics")
    play.add_argument("--loop", "-l", action="store_true", help="start over at the end, until stopped "
                                                                "(bag time and header stamps jump back)")
    play.add_argument("--clock", type=_positive, nargs="?", const=DEFAULT_CLOCK_HZ, metavar="HZ",
                      help=f"publish /clock from the bag's timeline (for use_sim_time nodes), at HZ between "
                           f"messages (default {DEFAULT_CLOCK_HZ:g}) and before each message")
    play.add_argument("--start-offset", type=_non_negative, default=0.0, metavar="S",
                      help="start S seconds after the bag's first message")
    play.add_argument("--qos-reliable", action="store_true",
                      help="publish every topic reliable (latched ones stay latched): nothing lost to subscribers "
                           "that are reliable too, e.g. nodes with process_every_frame")
    play.add_argument("--wait-for-subscribers", type=_non_negative, default=0.0, metavar="S",
                      help="wait up to S seconds until every played topic has a subscriber before starting")
    play.set_defaults(func=play_bag)

    info = actions.add_parser("info", help="files, duration, topics, types and message counts of a bag")
    info.add_argument("bag", type=Path, help="bag folder, or a .mcap / .db3 file")
    info.set_defaults(func=bag_info)


def _fail(message: str) -> int:
    print(f"aria-nav bag: {message}", file=sys.stderr, flush=True)
    return EXIT_BAG_ERROR


def bag_info(args: argparse.Namespace) -> int:
    from aria_nav.core.bag import BagError, BagReader, format_info

    try:
        with BagReader(args.bag) as reader:
            print(format_info(reader))
    except BagError as exc:
        return _fail(str(exc))
    return 0


def record_bag(args: argparse.Namespace) -> int:
    if bool(args.topics) == args.all:
        return _fail("record: name the topics to record, or give --all (not both)")
    from aria_nav.core.bag import BagError
    from aria_nav.ros.bag_io import BagRecorder
    from aria_nav.ros.runtime import stop_on_signals
    from aria_nav.ros.spinning import BackgroundNode

    shutdown = stop_on_signals("bag record")
    stop = shutdown.stop
    recording = BackgroundNode("aria_nav_bag_recorder", poll_s=0.1)
    try:
        recorder = BagRecorder(recording.node, args.output, None if args.all else args.topics, args.storage)
        shutdown.on_deadline(recorder.close_file)  # a stuck teardown still leaves a complete bag
        shutdown.on_second_signal(recorder.close_file)  # and so does a second Ctrl-C (exit 130)
        print(f"bag record: writing {recorder.path} ({args.storage}); stop with Ctrl-C", flush=True)
        deadline = None if args.duration is None else time.monotonic() + args.duration
        while recorder.failure is None and (deadline is None or time.monotonic() < deadline):
            if stop.wait(0.1):
                break
        recording.stop_spinning()
        recorder.flush_pending(recording.executor)
        waiting = recorder.waiting_for
        counts = recorder.stop()
        shutdown.files_complete()  # the bag is closed: a teardown stuck after this still exits 0
    except BagError as exc:
        return _fail(str(exc))
    finally:
        recording.close()
    print(f"bag record: {sum(counts.values())} messages on {len(counts)} topics in {args.output}", flush=True)
    if waiting:
        print(f"bag record: never published, not in the bag: {', '.join(waiting)}", flush=True)
    shutdown.finish(0)  # the bag is closed: skip the Fast DDS teardown at interpreter exit (runtime.Shutdown)


def play_bag(args: argparse.Namespace) -> int:
    import rclpy
    from rclpy.signals import SignalHandlerOptions

    from aria_nav.core.bag import BagError, BagReader
    from aria_nav.ros.bag_io import BagPlayer
    from aria_nav.ros.runtime import stop_on_signals

    stop = stop_on_signals("bag play").stop
    try:
        reader = BagReader(args.bag)
    except BagError as exc:
        return _fail(str(exc))
    rclpy.init(args=[], signal_handler_options=SignalHandlerOptions.NO)
    node = rclpy.create_node("aria_nav_bag_player")
    try:
        player = BagPlayer(node, reader, args.topics, reliable=args.qos_reliable, clock_hz=args.clock,
                           start_offset_s=args.start_offset, loop=args.loop)
        for topic, reason in player.skipped.items():
            print(f"bag play: not playing {topic}: {reason}", file=sys.stderr, flush=True)
        rate = 0.0 if args.fast else args.rate
        if args.wait_for_subscribers:
            for topic in player.wait_for_subscribers(args.wait_for_subscribers):
                print(f"bag play: no subscriber on {topic} after {args.wait_for_subscribers:g} s; playing anyway",
                      file=sys.stderr, flush=True)
        print(f"bag play: {reader.path}, {len(player.topics)} topics at rate "
              f"{'max' if rate == 0 else f'{rate:g}'}{', looping' if args.loop else ''}", flush=True)
        start = time.monotonic()
        published = player.play(rate, stop)
        elapsed = time.monotonic() - start
        unacknowledged = player.close(ack_timeout_s=0.0 if stop.is_set() else 5.0)  # Ctrl-C: stop now
    except BagError as exc:
        return _fail(str(exc))
    finally:
        reader.close()
        node.destroy_node()
        rclpy.try_shutdown()
    print(f"bag play: {published} messages in {elapsed:.2f} s{' (stopped)' if stop.is_set() else ''}", flush=True)
    if unacknowledged:
        print(f"bag play: not acknowledged by every reliable subscriber: {', '.join(unacknowledged)}",
              file=sys.stderr, flush=True)
    return 0
