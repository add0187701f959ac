"""What the decoders may use beyond the packets: the ground truth to search payloads for. Shared by
every flow of a capture and set once the capture's CAN has been read (the track comes from it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.truth.model import GroundTruth
    from harness.truth.recognise import Recogniser


class Recognition:
    def __init__(self, truth: GroundTruth | None = None) -> None:
        self._truth = truth
        self._recogniser: Recogniser | None = None

    @property
    def truth(self) -> GroundTruth | None:
        return self._truth

    @truth.setter
    def truth(self, value: GroundTruth | None) -> None:
        self._truth, self._recogniser = value, None

    def recogniser(self) -> Recogniser:
        """Built on first use: the automaton and the track index are costly, and shared by every flow."""
        if self._recogniser is None:
            from harness.truth.recognise import Recogniser

            self._recogniser = Recogniser(self._truth)
        return self._recogniser
