"""`aria-nav demo`: the graph on a recording as it runs live, with an annotated video, the spoken WAV files and a
summary. inputs.py checks the input, run.py runs it, ground_truth.py stands in for the detectors on the sample,
video.py writes the video, report.py the summary."""
