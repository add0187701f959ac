"""A bench without hardware for the harness's own tests: an ECU on python-can's in-process `virtual`
bus, a DoIP entity and some traffic on the loopback interface, and a spy on the bus.

Everything stays inside the test process or on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from types import TracebackType

import can

from harness.can.codec import VehicleCodec
from harness.can.cyclic import CyclicTransmitter

ROOT = Path(__file__).resolve().parents[2]
DBC, MAPPING = ROOT / "dbc" / "vehicle.dbc", ROOT / "dbc" / "vehicle.signals.toml"


def bench_rig(directory: Path, channel: str, doip_port: int = 0, **overrides: str) -> Path:
    """A bench rig file on the `virtual` interface; `overrides` replace whole lines by key."""
    lines = {
        "interface": 'interface = "virtual"', "channel": f'channel = "{channel}"',
        "dbc": f'dbc = "{DBC}"', "mapping": f'mapping = "{MAPPING}"', "capture": 'interface = "lo"',
    }
    lines.update(overrides)
    doip = f'[doip]\naddress = "127.0.0.1"\nport = {doip_port}\nlogical_address = 0x0E80\n' if doip_port else ""
    text = (f'netmap = "{ROOT / "rigs" / "bench-netmap.toml"}"\n[rig]\nname = "test-bench"\nkind = "bench"\n'
            f'[can]\n{lines["interface"]}\n{lines["channel"]}\nbitrate = 500000\n{lines["dbc"]}\n{lines["mapping"]}\n'
            # the ECU's 100 ms messages: a check need not wait for the 1 s one
            'expect = ["OtaStatus", "OtaNotice", "DriveInhibit"]\n'
            f'[capture]\n{lines["capture"]}\n{doip}'
            "[timeouts]\ncan_traffic_s = 1.0\ncapture_s = 0.5\ndoip_s = 0.5\necu_alive_s = 2.0\n")
    path = directory / "bench.toml"
    path.write_text(text, encoding="utf-8")
    return path


class FakeEcu:
    """The ECU under test's cyclic messages (or a chosen few) on a virtual CAN channel."""

    def __init__(self, channel: str, only: set[str] | None = None) -> None:
        self.codec = VehicleCodec.load(DBC, MAPPING)
        self.bus = can.Bus(interface="virtual", channel=channel)
        messages = [m for m in self.codec.ecu_messages() if only is None or m.name in only]
        self.tx = CyclicTransmitter(self.bus, self.codec, messages)
        self._errors: can.broadcastmanager.CyclicSendTaskABC | None = None

    def __enter__(self) -> FakeEcu:
        self.tx.start()
        return self

    def send_errors(self, classes: int) -> None:
        """From now on an error frame of `classes` every 50 ms, as a controller reports a bus in trouble."""
        frame = can.Message(arbitration_id=classes, data=bytes(8), is_error_frame=True)
        self._errors = self.bus.send_periodic(frame, 0.05)

    def __exit__(self, *exc: object) -> None:
        if self._errors is not None:
            self._errors.stop()
        self.tx.stop()
        self.bus.shutdown()


class BusSpy:
    """Every frame on the channel, to prove what the harness did and did not send."""

    def __init__(self, channel: str) -> None:
        self.bus = can.Bus(interface="virtual", channel=channel)
        self.frames = can.BufferedReader()
        self.notifier = can.Notifier(self.bus, [self.frames])

    def ids(self) -> set[int]:
        seen = set()
        while (msg := self.frames.get_message(0)) is not None:
            seen.add(msg.arbitration_id)
        return seen

    def close(self) -> None:
        self.notifier.stop()
        self.bus.shutdown()


class DoipResponder:
    """Answers DoIP vehicle identification requests on 127.0.0.1 like an ECU's DoIP entity."""

    def __init__(self, logical_address: int = 0x0E80, vin: str = "LHVTEST0000000001") -> None:
        self.logical_address, self.vin = logical_address, vin
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> DoipResponder:
        self._thread.start()
        return self

    def _serve(self) -> None:
        from scapy.contrib.automotive.doip import DoIP

        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            if DoIP(data).payload_type == 0x0001:
                answer = DoIP(payload_type=0x0004, vin=self.vin.encode(), logical_address=self.logical_address,
                              eid=b"\x00" * 6, gid=b"\x00" * 6, further_action=0)
                self.sock.sendto(bytes(answer), peer)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


class LoopbackTraffic:
    """Datagrams to the discard port on 127.0.0.1, so a capture on `lo` has something to see."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._send, daemon=True)

    def _send(self) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for _ in range(2000):  # bounded: at most 100 s at 20 datagrams a second
                if self._stop.wait(0.05):
                    return
                sock.sendto(b"rig-check", ("127.0.0.1", 9))

    def __enter__(self) -> LoopbackTraffic:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
