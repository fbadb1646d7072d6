"""The bottom layer: settings (the only reader of the environment), database engines, logging.
Imports nothing else of the app."""
