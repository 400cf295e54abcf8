"""Courses: rosters and meeting times; servers warmed before each meeting."""
