"""The faces: `explain`, the layer wrapper, streaming over datasets, the result."""
