"""Scenarios (docs/scenarios.md): one case told from start to end, run and checked."""

from motcua.simulate.model import Scenario, ScenarioError, load_scenario
from motcua.simulate.report import Check, ScenarioReport
from motcua.simulate.runner import run_scenario

__all__ = ["Check", "Scenario", "ScenarioError", "ScenarioReport", "load_scenario", "run_scenario"]
