"""The TensorFlow engine: score function, compiled path integral, jobs, devices."""
