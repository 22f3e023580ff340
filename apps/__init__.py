"""The Django apps of rnnservice: datasets, and (to come) registry, training and serving."""
