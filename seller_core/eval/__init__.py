"""Evaluation protocols shared by every stage."""
