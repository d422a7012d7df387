"""Test support shared across the suite: fakes, local servers, browser helpers, test backends."""
