"""Shared fixtures for the policy tests: the shipped policy, compiled once per session."""

from __future__ import annotations

import pytest

from policies import Compiled, Policy, compile_policy, load_policy


@pytest.fixture(scope="session")
def shipped() -> Policy:
    return load_policy()


@pytest.fixture(scope="session")
def compiled(shipped: Policy) -> Compiled:
    return compile_policy(shipped)
