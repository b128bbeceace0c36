"""Pure numpy: no TensorFlow here (quadrature, completeness, checks, colours)."""
