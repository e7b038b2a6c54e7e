"""One module per page area; each has ``router``."""
