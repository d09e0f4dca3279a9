"""Horovod's Gloo rendezvous (what horovodrun runs), for ranks started without horovodrun: by the
Slurm driver on the batch node, by the ssh supervisor on this machine."""
from __future__ import annotations

from ..topology import horovod_slots


def start_rendezvous(layout: list[tuple[str, int]]):
    """Horovod's Gloo rendezvous (what horovodrun runs), on the batch node."""
    from horovod.runner.common.util.hosts import SlotInfo
    from horovod.runner.http.http_server import RendezvousServer

    server = RendezvousServer(verbose=0)
    port = server.start()
    server.init([SlotInfo(**s) for s in horovod_slots(layout)])
    return server, port
