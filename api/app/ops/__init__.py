"""Operator work as typed functions (train, prestart, promote, prune, report ...) and the thin
command line over them (`python -m app`). The only layer that imports training."""
