"""Converters, one module per op family; importing this package registers all of them."""

from snnc.frontend.converters import elementwise, nn, pooling, shape, softmax  # noqa: F401
