"""Test layer one: overridden by layer two, which comes later."""
NAME = "one"
