"""Callback (回访) tasks: operators phone residents about resolved cases and record the outcome and score."""
