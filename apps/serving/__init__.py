"""Serving: prediction and evaluation over HTTP and the command line, with a per-process model cache."""
