"""How long each activity may take, how often it shows it is alive, and how long a failing
one is retried before its case stalls: declared once per activity family, here.

The workflow reads these when it schedules a call (a step may override `timeout` and
`retry`), so this module is plain data, safe to import inside the workflow sandbox.

- `timeout` (start to close) fits one attempt under load: a registry answers in seconds,
  an e-mail on three channels may take a minute, a signed PDF longer on a busy machine.
- `heartbeat`: every activity heartbeats every HEARTBEAT_EVERY seconds while it runs (the
  worker's interceptor does it), so an attempt lost with a killed worker is noticed after
  this long and retried at once, instead of holding its whole timeout.
- `window`: failures are retried, with backoff, for this long after the call was first
  scheduled. An outage shorter than the window heals with no officer action; a longer one
  stalls the case (ADR 0003). Lost workers and timed-out attempts are retried in the same
  window and use up no attempt budget: there is none, unless a step sets `max_attempts`.
"""

from __future__ import annotations

from dataclasses import dataclass

HEARTBEAT_EVERY = 2.0  # seconds between heartbeats of a running activity


@dataclass(frozen=True)
class CallProfile:
    timeout: float  # seconds, one attempt
    heartbeat: float  # seconds without a heartbeat before an attempt counts as lost
    window: float  # seconds of retrying before the case stalls


# The window also holds the time a call waits in the task queue behind a backlog: a chaos
# run of 200 bundles on two cores kept calendar calls queued for over a minute, so a
# one-minute window stalled cases that nothing was wrong with. Windows are therefore minutes
# to an hour: long enough for a backlog, short enough that a real outage reaches an officer
# the same morning.
REGISTRY = CallProfile(timeout=30.0, heartbeat=10.0, window=900.0)
PROFILES: dict[str, CallProfile] = {
    "calendar.": CallProfile(timeout=10.0, heartbeat=10.0, window=600.0),
    "definitions.": CallProfile(timeout=10.0, heartbeat=10.0, window=600.0),
    "documents.": CallProfile(timeout=120.0, heartbeat=10.0, window=1800.0),
    "notify.": CallProfile(timeout=120.0, heartbeat=10.0, window=3600.0),
    "register.": REGISTRY,
}


def profile_for(activity: str) -> CallProfile:
    """The profile of an activity by its name (the family prefix before the first dot);
    the state registries' one for any other."""
    for prefix, profile in PROFILES.items():
        if activity.startswith(prefix):
            return profile
    return REGISTRY
