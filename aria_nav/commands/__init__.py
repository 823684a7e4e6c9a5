"""Subcommands of `aria-nav`, one module each (see aria_nav.cli). Modules import heavy dependencies lazily,
inside their functions, so `aria-nav --help` stays fast."""
