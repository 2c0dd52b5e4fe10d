"""The local cloud: the whole hub on one machine, from the real template, handlers and state machines."""
