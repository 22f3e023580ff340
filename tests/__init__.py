"""The test suite. A package, so that tests/<app>/test_x.py and tests/test_x.py may share a base name."""
