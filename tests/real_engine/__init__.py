"""The real-engine tier: the real Pulumi CLI and language host run the program (tests/test_real_pulumi.py)."""
