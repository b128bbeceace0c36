"""Input and output: pictures of explanations, the demo."""
