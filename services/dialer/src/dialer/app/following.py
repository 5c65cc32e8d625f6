"""Following one placed call through the telephony gateway to its end.

Ringing, answer (an answering machine is hung up on or gets the campaign's message),
routing within the abandon threshold (an abandon plays the campaign's abandon message), or
its end. Whenever the dialer stops following a call whose leg is up (gateway watchdog, an
error, a call the books ended meanwhile, shutdown) the leg is released: the abandon
message to a person who answered, else a hang-up.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common.clock import Clock
from dialer.adapters.telephony import TERMINAL_PROGRESS, Progress, TelephonyGateway
from dialer.app.calls import CallBook, DialOrder
from dialer.domain.campaign import ABANDON_THRESHOLD_S, AmdAction
from dialer.domain.dialing import IN_FLIGHT_STATES, CallState
from dialer.settings import DialerSettings

log = logging.getLogger(__name__)
T = TypeVar("T")

# Real seconds a gateway may overrun the ring timeout before the dialer ends the call.
_GATEWAY_GRACE_S = 10.0
# Real seconds before the 2 s abandon threshold at which a waiting answer is abandoned: the
# abandon transaction and the start of the message fit in it.
_ABANDON_MARGIN_S = 0.3
_ANSWERED = (Progress.ANSWERED_HUMAN, Progress.ANSWERED_MACHINE)


class CallFollower:
    """Follows the calls this process placed, each in the caller's task."""

    def __init__(self, *, sessions: async_sessionmaker[AsyncSession], clock: Clock,
                 settings: DialerSettings, call_book: CallBook,
                 gateway: TelephonyGateway) -> None:
        self.sessions = sessions
        self.clock = clock
        self.settings = settings
        self.calls = call_book
        self.gateway = gateway
        self._following: dict[str, DialOrder] = {}  # call id -> order, while followed

    def following(self) -> list[DialOrder]:
        """The calls followed now."""
        return list(self._following.values())

    async def _txn(self, op: Callable[[AsyncSession], Awaitable[T]]) -> T:
        async with self.sessions() as session, session.begin():
            return await op(session)

    async def give_up_all(self, orders: list[DialOrder]) -> None:
        """Shutdown (their tasks cancelled): end each call in flight in the books — a
        waiting live answer as abandoned — then release the legs at once (the abandon
        message to the waiting answers, a hang-up to the legs still ringing)."""
        states: list[CallState | None] = []
        for order in orders:
            try:
                states.append(await self._txn(functools.partial(self._end_in_books,
                                                                order=order)))
            except Exception:
                log.exception("could not end call %s at shutdown", order.call_id)
                states.append(None)
        await asyncio.gather(*(self._release_leg(o, answered=st is CallState.WAITING)
                               for o, st in zip(orders, states, strict=True)
                               if st is not CallState.CONNECTED))

    async def follow(self, order: DialOrder) -> None:
        """Follow one placed call to its end through the gateway; whenever the dialer stops
        following a call it still has live, the leg is released (:meth:`_give_up`)."""
        self._following[order.call_id] = order
        try:
            progress, state, answered_at = await self._ring(order)
            if progress is Progress.ANSWERED_MACHINE and state is CallState.ENDED:
                await self._machine(order)
            elif progress is Progress.ANSWERED_HUMAN and state is CallState.WAITING:
                await self._await_agent(order, answered_at)
            elif progress in _ANSWERED and state is None:  # the books ended it meanwhile
                await self._release_leg(order, answered=progress is Progress.ANSWERED_HUMAN)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("call %s broke in the dialer; ending it", order.call_id)
            await self._give_up(order)
        finally:
            self._following.pop(order.call_id, None)

    async def _ring(self, order: DialOrder) -> tuple[Progress | None, CallState | None, float]:
        """Relay the gateway's progress up to its terminal report: that progress, the
        call's resulting state and the loop time it arrived (None: the gateway failed, the
        call was given up)."""
        ring_timeout = order.settings.ring_timeout_s
        watchdog = ring_timeout * self.settings.time_scale + _GATEWAY_GRACE_S
        loop = asyncio.get_running_loop()
        reports = self.gateway.dial(order.call_id, order.phone_e164, ring_timeout,
                                    caller_id=order.settings.caller_id)
        try:
            async with asyncio.timeout(watchdog):
                async for progress in reports:
                    at = loop.time()
                    state = await self._txn(functools.partial(
                        self._progress, order=order, progress=progress))
                    if progress in TERMINAL_PROGRESS:
                        return progress, state, at
        except TimeoutError:
            log.warning("gateway reported no outcome for call %s within %.0f s",
                        order.call_id, watchdog)
        finally:
            if isinstance(reports, AsyncGenerator):  # closed, whatever stopped the loop
                await reports.aclose()
        await self._give_up(order)
        return None, None, loop.time()

    async def _progress(self, session: AsyncSession, *, order: DialOrder,
                        progress: Progress) -> CallState | None:
        return await self.calls.progress(session, order.tenant_id, order.call_id, progress,
                                         self.clock.now())

    async def _machine(self, order: DialOrder) -> None:
        """An answering machine: leave the campaign's message, or hang up."""
        settings = order.settings
        if settings.amd_action == AmdAction.LEAVE_MESSAGE.value and settings.amd_message:
            await self._on_leg(order, self.gateway.play_message(order.call_id,
                                                                settings.amd_message))
        else:
            await self._on_leg(order, self.gateway.hang_up(order.call_id))

    async def _await_agent(self, order: DialOrder, answered_at: float) -> None:
        """Retry routing until the abandon threshold, then abandon with the message.

        The 2 s threshold is REAL time (a legal limit on what the called person hears):
        ``time_scale`` never shortens it. The decision is taken ``_ABANDON_MARGIN_S``
        before it (the abandon transaction and the start of the message take time), and a
        routing attempt past that point connects nothing.
        """
        loop = asyncio.get_running_loop()
        deadline = answered_at + ABANDON_THRESHOLD_S - _ABANDON_MARGIN_S

        def in_time() -> bool:
            return loop.time() < deadline

        while (remaining := deadline - loop.time()) > 0:
            await asyncio.sleep(min(self.settings.route_poll_s, remaining))
            if await self._txn(lambda s: self.calls.route(s, order.tenant_id, order.call_id,
                                                          self.clock.now(), in_time)):
                return
        await self._give_up(order)

    async def _give_up(self, order: DialOrder) -> None:
        """The dialer stops following a call: end it in the books if it is still in
        flight (a waiting live answer as ``abandoned``, else ``failed``) and release its
        leg. A connected call is the agent's (ended by the agent's events)."""
        state = await self._txn(functools.partial(self._end_in_books, order=order))
        if state is not CallState.CONNECTED:
            await self._release_leg(order, answered=state is CallState.WAITING)

    async def _end_in_books(self, session: AsyncSession, *,
                            order: DialOrder) -> CallState | None:
        """End the call if in flight; returns the state it ended from, else its current
        state (None: unknown)."""
        call = await self.calls.load(session, order.tenant_id, order.call_id)
        if call is None:
            return None
        if call.state in IN_FLIGHT_STATES and not await self.calls.end(
                session, call, "failed", self.clock.now()):
            call = await self.calls.load(session, order.tenant_id, order.call_id)
        return None if call is None else CallState(call.state)

    async def _release_leg(self, order: DialOrder, *, answered: bool) -> None:
        """Free the carrier leg of a call the dialer no longer follows: a person who
        answered hears the abandon message, any other leg is hung up (a no-op if gone)."""
        message = order.settings.abandon_message
        await self._on_leg(order, self.gateway.play_message(order.call_id, message)
                           if answered and message else self.gateway.hang_up(order.call_id))

    async def _on_leg(self, order: DialOrder, action: Awaitable[None]) -> None:
        """Play a message or hang up on a call already ended in the books: a gateway
        error is logged, never turned into a second end."""
        try:
            await action
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("gateway could not finish the leg of call %s", order.call_id)
