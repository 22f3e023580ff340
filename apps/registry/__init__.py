"""The model registry: registered models, their numbered versions and artifacts, and aliases."""
