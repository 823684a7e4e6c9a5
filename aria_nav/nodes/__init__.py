from aria_nav.ros import early_signals

early_signals.hold()  # before the node modules' heavy imports: a Ctrl-C meanwhile is not lost (runtime.Shutdown)
