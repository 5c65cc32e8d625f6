"""Telephony gateway port: what the dialer needs from the telephone network.

The dialer places calls through :class:`TelephonyGateway` and reacts to the progress it
reports. :class:`dialer.adapters.simulated_carrier.SimulatedCarrier` implements it for
development, tests and demos; a real adapter (Asterisk ARI, a SIP trunk provider) plugs
in behind the same port. ``docs/telephony.md`` maps the port onto ARI and SIP.

Guarantees every implementation gives (the dialing loop relies on them):

* **Exactly one terminal progress per dial.** The iterator returned by
  :meth:`TelephonyGateway.dial` yields at most one ``RINGING`` and then exactly one
  terminal :class:`Progress` (a member of :data:`TERMINAL_PROGRESS`) and ends. It never
  yields after the terminal one, and never raises for network trouble: errors of any kind
  (bad number, rejected caller ID, trunk refusal, lost connection to the switch) end it
  with ``FAILED``. Only cancellation of the consuming task propagates.
* **Ordering.** Progress of one call arrives in network order; ``RINGING`` (if any)
  precedes the terminal progress. Different calls are independent.
* **Timeouts.** A call not answered within ``ring_timeout_s`` ends with ``NO_ANSWER``
  at the latest shortly after the timeout (the adapter cancels the attempt itself; the
  dialer keeps a watchdog and ends calls whose gateway overruns by more than a grace).
* **Answers carry the AMD verdict.** ``ANSWERED_HUMAN`` / ``ANSWERED_MACHINE`` are the
  answering-machine detector's verdict, which can be wrong; the leg stays up after an
  answer until :meth:`~TelephonyGateway.play_message` or :meth:`~TelephonyGateway.hang_up`.
* **Hang-up is idempotent.** ``hang_up`` on a leg that is ringing ends its dial iterator
  with ``NO_ANSWER`` (the called party never answered, from the dialer's point of view);
  on an answered leg it releases it; on a leg that is gone, or an unknown id, it is a
  no-op. It never raises for network trouble.
* **Privacy.** Phone numbers (called number, caller ID) never appear in logs, metric
  labels, span attributes or exception messages (``common.pii.mask_phone``); the call id
  identifies a call.
* **Concurrency.** Thousands of calls are in flight at once on one event loop; methods
  are coroutine-safe and never block the loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from enum import StrEnum
from typing import Protocol


class Progress(StrEnum):
    """What the network reports about a call attempt."""

    RINGING = "ringing"
    ANSWERED_HUMAN = "answered_human"
    ANSWERED_MACHINE = "answered_machine"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    FAILED = "failed"


TERMINAL_PROGRESS = frozenset(set(Progress) - {Progress.RINGING})


class TelephonyGateway(Protocol):
    """The port to the telephone network (see the module docstring for the guarantees)."""

    def dial(self, call_id: str, phone_e164: str, ring_timeout_s: float, *,
             caller_id: str | None = None) -> AsyncIterator[Progress]:
        """Place a call; yield its progress, ending with exactly one terminal :class:`Progress`.

        ``call_id``: the dialer's id of the call, unique per attempt; it names the leg in
        later :meth:`play_message` / :meth:`hang_up` calls. ``phone_e164``: the called
        number, E.164. ``ring_timeout_s``: give up ringing after this many seconds
        (``NO_ANSWER``). ``caller_id``: the E.164 number presented to the called party
        (None: the trunk's default). ``ANSWERED_HUMAN`` / ``ANSWERED_MACHINE`` are the
        AMD's verdict (it can be wrong).
        """
        ...

    async def play_message(self, call_id: str, message: str) -> None:
        """Play a recorded message on an answered call, then hang up.

        Used for the legally required abandon message and for voicemail drops. Returns
        when the leg is gone. A leg that is gone already (or unknown) is a no-op; a leg
        not answered yet is hung up (nobody would hear the message).
        """
        ...

    async def hang_up(self, call_id: str) -> None:
        """End the leg now; idempotent, a no-op for a leg that is gone or unknown."""
        ...
