"""Dataset sources. Each ``load(config)`` returns a :class:`Source`."""
