"""`aria-nav eval ...`: evaluations the project owns, printing the numbers its targets are judged on (the CI tests
assert the deterministic ones). Each kind is a subcommand; the work is in aria_nav.core.evaluation (no ROS)."""
from __future__ import annotations

import sys


def register(subparsers) -> None:
    parser = subparsers.add_parser("eval", help="evaluations: scripted scenes with ground truth through the real "
                                                "core, judged by what the wearer hears")
    kinds = parser.add_subparsers(dest="kind", metavar="KIND", required=True)
    guidance = kinds.add_parser("guidance", help="warnings reaching the ear in time: scripted scenes through "
                                                 "FusionPipeline and SpeechQueue, speech timed by espeak-ng "
                                                 "(docs/guidance.md)")
    guidance.add_argument("--voice", default="en-us", help="espeak-ng voice whose sentence durations are used")
    guidance.set_defaults(func=eval_guidance)


def eval_guidance(args) -> int:
    from aria_nav.core.evaluation.guidance import WORDS_PER_MINUTE, DurationCache, evaluate_all, summary, table, \
        targets
    from aria_nav.core.speech.engines import EngineUnavailable, EspeakEngine

    try:
        engine = EspeakEngine(args.voice, WORDS_PER_MINUTE)
    except EngineUnavailable as exc:
        print(f"aria-nav eval guidance: {exc}: the evaluation times speech with the real TTS", file=sys.stderr)
        return 2
    durations = DurationCache(engine)
    results = evaluate_all(durations)
    print(table(results))
    print()
    print(summary(results, durations))
    failures = targets(results)
    print("targets: all met" if not failures else "targets NOT met:\n  " + "\n  ".join(failures))
    return 0 if not failures else 1
