"""Customization: Amazon Nova fine-tuning pipelines, run apart from the runtime."""
