"""Huifang (回访): callback and customer-service compliance platform for Chinese insurers."""

__version__ = "0.1.0"
