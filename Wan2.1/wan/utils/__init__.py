"""Helpers of the Wan stack: checkpoint I/O, key converters, video writing."""
