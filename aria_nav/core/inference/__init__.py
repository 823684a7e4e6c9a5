"""Inference plumbing shared by detection and depth: sessions, provider verification, engines."""
