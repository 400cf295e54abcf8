"""What the tests share: a campus and its hub, a student's browser, sign-in steps, /proc readings, the people
the sign-in components know.

Test modules import from here and from tests/components (the real components the tests start), never
from conftest.py or from one another: tests/unit/test_test_layout.py checks it.
"""
