"""The scenarios of issue 19, each a function that returns :class:`bench.report.Scenario` rows."""
