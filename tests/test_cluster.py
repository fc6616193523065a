"""dmltk.connect: active client, scheduler address, or embedded LocalCluster."""

import logging
import os
import socket
import sys
import threading
import time

import psutil
import pytest
from distributed import Client, LocalCluster

import dmltk
from dmltk.cluster import WORKER_MODULES, PreloadModules

PRELOADED = {name for name in WORKER_MODULES if name.startswith("dmltk.")}


def dmltk_modules_per_worker(client):
    """The dmltk modules imported by each worker, once each has started.

    A worker sets up its plugins before it takes its first task, so a task
    on each worker first makes sure that the setup is over.
    """
    workers = list(client.scheduler_info(n_workers=-1)["workers"])
    for address in workers:
        client.submit(os.getpid, workers=[address], pure=False).result()
    return client.run(
        lambda: {name for name in sys.modules if name.startswith("dmltk")},
        workers=workers,
    )


def test_returns_the_active_client(client):
    assert dmltk.connect() is client
    assert dmltk.connect(client.scheduler.address) is client
    # ... and preloads the worker modules on its cluster too.
    assert PreloadModules.name in client.run_on_scheduler(
        lambda dask_scheduler: list(dask_scheduler.worker_plugins)
    )


def test_connects_to_an_address_and_to_the_environment_variable(cluster, monkeypatch):
    with dmltk.connect(cluster.scheduler_address) as explicit:
        assert explicit.scheduler.address == cluster.scheduler_address
        assert explicit.submit(sum, [1, 2]).result() == 3
    monkeypatch.setenv("DMLTK_SCHEDULER", cluster.scheduler_address)
    with dmltk.connect() as from_env:
        assert from_env.scheduler.address == cluster.scheduler_address
        assert len(from_env.scheduler_info()["workers"]) == 2


def test_unreachable_scheduler_raises_oserror_naming_it_after_the_timeout():
    start = time.monotonic()
    with pytest.raises(OSError, match=r"tcp://127\.0\.0\.1:9.*within 2s"):
        dmltk.connect("tcp://127.0.0.1:9", timeout="2s")
    assert time.monotonic() - start < 20


@pytest.mark.parametrize("answer", [None, b"HTTP/1.0 400 Bad request\r\n\r\n"])
def test_a_server_that_is_not_a_scheduler_fails_within_the_timeout(answer):
    """A server that accepts the connection and never answers (or answers
    something else) is an OSError naming it after about twice the timeout,
    never a hang, and the thread that asked is gone afterwards."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    accepted = []

    def serve():
        while True:
            try:
                connection, _ = server.accept()
            except OSError:  # closed at the end of the test
                return
            accepted.append(connection)
            if answer is not None:
                connection.sendall(answer)

    threading.Thread(target=serve, daemon=True).start()
    address = f"tcp://127.0.0.1:{server.getsockname()[1]}"
    start = time.monotonic()
    try:
        with pytest.raises(OSError, match=rf"{address}.* did not answer as a Dask"):
            dmltk.connect(address, timeout=1)
        assert time.monotonic() - start < 10
        assert accepted  # it did connect: the bound is the handshake's
        assert not [t for t in threading.enumerate() if t.name.startswith("dmltk-")]
    finally:
        server.close()
        for connection in accepted:
            connection.close()


def test_local_cluster_options_and_an_address_do_not_mix():
    with pytest.raises(TypeError, match=r"n_workers"):
        dmltk.connect("tcp://127.0.0.1:9", n_workers=2)


@pytest.mark.slow
def test_starts_an_embedded_local_cluster_sized_to_the_machine():
    with dmltk.connect(dashboard_address=":0") as client:
        workers = client.scheduler_info(n_workers=-1)["workers"].values()
        assert len(workers) == psutil.cpu_count()
        assert {w["nthreads"] for w in workers} == {1}
        total = sum(w["memory_limit"] for w in workers)
        machine = psutil.virtual_memory().total
        assert 0.8 * machine < total <= machine
        # A separate process per worker: message passing over TCP.
        pids = set(client.run(os.getpid).values())
        assert len(pids) == len(workers)
        assert client.scheduler.address.startswith("tcp://")
        # No work stealing: it would move persisted blocks between workers.
        assert not client.run_on_scheduler(
            lambda dask_scheduler: "stealing" in dask_scheduler.extensions
        )
    assert client.status == "closed"
    with pytest.raises(ValueError):
        Client.current(allow_global=True)


@pytest.mark.slow
def test_a_cluster_it_starts_has_the_worker_modules_on_every_worker_even_later_ones():
    with dmltk.connect(n_workers=2, dashboard_address=":0") as client:
        modules = dmltk_modules_per_worker(client)
        assert len(modules) == 2
        for loaded in modules.values():
            assert loaded >= PRELOADED
        client.cluster.scale(3)
        client.wait_for_workers(3)
        modules = dmltk_modules_per_worker(client)
        assert len(modules) == 3
        for loaded in modules.values():
            assert loaded >= PRELOADED


@pytest.mark.slow
def test_joining_a_cluster_by_address_preloads_the_worker_modules():
    with LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
        silence_logs=logging.ERROR,
    ) as cluster:
        with Client(cluster, set_as_default=False) as plain:
            # A cluster started without dmltk: its workers have none of it.
            assert not any(dmltk_modules_per_worker(plain).values())
        with dmltk.connect(cluster.scheduler_address) as client:
            (loaded,) = dmltk_modules_per_worker(client).values()
            assert loaded >= PRELOADED
