"""Measuring instruments: how good a trained model is, by the papers' protocols."""
