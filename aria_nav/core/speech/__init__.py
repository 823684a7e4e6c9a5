"""Speech without ROS: the request format, phrase tables per language, the utterance queue (priorities,
staleness, de-duplication), TTS engines run as interruptible subprocesses, earcons, and audio/WAV output."""
