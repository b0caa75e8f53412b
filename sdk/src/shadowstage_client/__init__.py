"""Shadowstage client."""
