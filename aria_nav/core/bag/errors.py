"""The one error type of aria_nav.core.bag."""


class BagError(Exception):
    """A bag that cannot be read or written, or a request it cannot satisfy; the message names the path or topic."""
