# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""`OnceLog`: the node logs each kind of finding once (plain Python, any logger)."""


class OnceLog:
    """
    Log each kind of finding once (until `clear`), keeping a record for tests.

    Call it as `log(key, level, message)`; True when the line was logged.

    Attributes:
        records: (key, level, message) of every line logged.
    """

    def __init__(self, logger):
        self._logger = logger
        self._seen = set()
        self.records = []

    def __call__(self, key: str, level: str, message: str) -> bool:
        if key in self._seen:
            return False
        self._seen.add(key)
        self.records.append((key, level, message))
        # One call site per severity: rclpy refuses two severities from one line.
        if level == "info":
            self._logger.info(message)
        elif level == "warning":
            self._logger.warning(message)
        elif level == "error":
            self._logger.error(message)
        else:
            getattr(self._logger, level)(message)
        return True

    def clear(self, *keys: str) -> bool:
        """Forget `keys` (they will be logged again); True when one of them had been logged."""
        found = False
        for key in keys:
            found = found or key in self._seen
            self._seen.discard(key)
        return found

    def count(self, key: str) -> int:
        """How many times lines of `key` were logged."""
        return sum(1 for k, _, _ in self.records if k == key)
