"""The fault markers and the table in docs/reliability.md are counted by tests/reliability/recorder.py,
a plugin of tests/conftest.py (see there why it is not a conftest of this folder)."""
