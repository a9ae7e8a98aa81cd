"""Models of huifang.notify."""
