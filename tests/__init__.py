"""keras_ig tests; folders mirror the package (numpy, engine, api, ...)."""
