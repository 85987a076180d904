"""Webhooks per Standard Webhooks, driven by the event log (DESIGN §8, §10)."""
