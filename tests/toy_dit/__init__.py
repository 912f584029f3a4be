"""toy_dit: the smallest model package that is a delta_cache target, the worked example of
docs/adding_a_model.md (registered by tests/test_adding_a_model.py; not in the shipped registry)."""
