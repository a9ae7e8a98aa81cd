"""Models of huifang.selfservice."""
