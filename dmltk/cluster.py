"""Where the cluster comes from.

:func:`connect` returns a :class:`distributed.Client`: the active one, one
connected to a scheduler address, or one on an embedded ``LocalCluster``.
Estimators never call it: they run on whatever Dask scheduler is current.
It also registers :class:`PreloadModules`, which imports the modules of the
block tasks on every worker, so that the first fit does not pay for it.

This module imports dask, psutil and distributed only (a worker has them
already): workers unpickle :class:`PreloadModules` from here.
"""

from __future__ import annotations

import importlib
import os
import ssl
import warnings

import dask
import psutil
from distributed import Client, WorkerPlugin

SCHEDULER_ENV = "DMLTK_SCHEDULER"

# The modules whose functions the graphs of a fit send to workers, and what
# those functions import on first use. A module with a ``warm_up()`` function
# has it called after the import. Add a module here: one line.
WORKER_MODULES = (
    "dmltk._blocks",
    "dmltk._loss",
    "dmltk._tasks",
    "dmltk._loss._kernels",
    "dmltk._metric_blocks",
    "dmltk._prediction",
)


class PreloadModules(WorkerPlugin):
    """Import :data:`WORKER_MODULES` on each worker, and call their
    ``warm_up()``, when the worker starts or when the plugin is registered.

    Otherwise the first task of a fit pays for them, on every worker at
    once: unpickling ``dmltk._loss.loss_gradient_block`` imports the module.
    The scheduler keeps the plugin and gives it to workers that join later.

    Parameters
    ----------
    modules : tuple of str, optional
        Module names; default :data:`WORKER_MODULES`.
    """

    name = "dmltk-preload-modules"
    # Registering again (every connect() to the same cluster) is a no-op.
    idempotent = True

    def __init__(self, modules: tuple[str, ...] = WORKER_MODULES):
        self.modules = tuple(modules)

    def setup(self, worker) -> None:
        """Import the modules and warm them up, in order."""
        for name in self.modules:
            warm_up = getattr(importlib.import_module(name), "warm_up", None)
            if callable(warm_up):
                warm_up()


def preload(client: Client) -> None:
    """Register :class:`PreloadModules` on the cluster of ``client``.

    Waits until every current worker has imported the modules. A failure (a
    worker without dmltk, or an older distributed) is a warning, not an
    error: preloading only saves time, and the first task that needs a
    missing module reports it anyway.

    Parameters
    ----------
    client : distributed.Client
        A synchronous client.
    """
    try:
        client.register_plugin(PreloadModules())
    except Exception as error:  # any failure only costs time
        warnings.warn(
            f"Could not preload {', '.join(WORKER_MODULES)} on the workers of "
            f"{client.scheduler.address}: {error!r}. The first fit imports them.",
            RuntimeWarning,
            stacklevel=3,
        )


def _active_client() -> Client | None:
    try:
        return Client.current(allow_global=True)
    except ValueError:
        return None


def connect(
    address: str | None = None,
    *,
    timeout: float | str | None = None,
    security=None,
    **local_cluster_kwargs,
) -> Client:
    """Return a Dask distributed client: active, remote, or on a local cluster.

    In this order:

    1. the active client, if there is one (and ``address`` is unset or is its
       scheduler's);
    2. a client connected to ``address``, or to ``$DMLTK_SCHEDULER`` when set;
    3. a client on a new embedded :class:`distributed.LocalCluster` with one
       worker process per core, one thread each, the machine's memory split
       evenly between them, and work stealing off (it would move persisted
       blocks between workers). The cluster closes with the client.

    In all three cases every worker of the cluster, and every worker that
    joins it later, imports the modules of dmltk's block tasks
    (:data:`WORKER_MODULES`) before it returns, so that the first fit does
    not wait for those imports: see :class:`PreloadModules`.

    Parameters
    ----------
    address : str, optional
        Scheduler address, such as ``"tcp://10.0.0.5:8786"``.
    timeout : float or str, optional
        How long to try to reach ``address`` (seconds, or a string such as
        ``"10s"``); default: Dask's ``distributed.comm.timeouts.connect``.
    security : distributed.Security, optional
        TLS certificates for a ``tls://`` scheduler, such as
        ``Security(tls_ca_file="ca.pem", tls_client_cert="client.pem",
        tls_client_key="client.key", require_encryption=True)``. Default:
        Dask's configuration (``distributed.comm.tls.ca-file``,
        ``distributed.comm.tls.client.cert`` and ``.key``), as
        :class:`distributed.Client` reads it.
    **local_cluster_kwargs
        Passed to :class:`distributed.LocalCluster` when one is started, for
        example ``n_workers=2`` or ``dashboard_address=":0"``.

    Returns
    -------
    distributed.Client
        Also set as the default client, so that Dask work runs on it.

    Raises
    ------
    OSError
        The scheduler at ``address`` could not be reached within the timeout,
        or what answers there is not a Dask scheduler: a server that accepts
        the connection and says nothing fails after about twice the timeout
        (plus a second) instead of hanging. A ``tls://`` scheduler without
        certificates, or one that refuses them, is an ``OSError`` saying so.

    Examples
    --------
    >>> import dmltk
    >>> client = dmltk.connect(n_workers=2)  # doctest: +SKIP
    >>> client.dashboard_link  # doctest: +SKIP
    'http://127.0.0.1:8787/status'
    """
    address = address or os.environ.get(SCHEDULER_ENV) or None
    if security is not None and address is None:
        raise TypeError(
            "security applies to a scheduler given by address (or "
            f"${SCHEDULER_ENV}); an embedded local cluster runs without TLS."
        )
    client = _client(address, timeout, local_cluster_kwargs, security)
    # An asynchronous client would return a coroutine here, to be awaited by
    # a caller that did not ask for it.
    if not client.asynchronous:
        preload(client)
    return client


def _check_scheduler_answers(address: str, timeout: float | str, security) -> None:
    """Raise ``OSError`` unless a Dask scheduler at ``address`` answers an
    ``identity`` request within about twice ``timeout``.

    distributed bounds the TCP connection by its timeout but not every read
    of the handshake that follows: a server that accepts the connection and
    never answers (an HTTP server, a proxy, a stopped process's port taken
    over) would hang :class:`distributed.Client` for good. The question runs
    on its own event loop, in a thread, so that it works inside a running
    loop (Jupyter) too.
    """
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from dask.utils import parse_timedelta
    from distributed.comm import connect as connect_comm
    from distributed.security import Security

    seconds = parse_timedelta(timeout, default="seconds")
    connection_args = (security or Security()).get_connection_args("client")
    if address.startswith("tls://") and connection_args.get("ssl_context") is None:
        raise OSError(
            f"The scheduler at {address} speaks TLS, and no certificate is given: "
            "pass dmltk.connect(..., security=distributed.Security(tls_ca_file=..., "
            "tls_client_cert=..., tls_client_key=...)) or set Dask's "
            "distributed.comm.tls configuration (the CLI: --tls-ca-file, "
            "--tls-cert, --tls-key)."
        )

    async def ask() -> object:
        comm = await connect_comm(address, timeout=seconds, **connection_args)
        try:
            await comm.write({"op": "identity"})
            return await comm.read()
        finally:
            comm.abort()

    async def ask_within() -> object:
        return await asyncio.wait_for(ask(), 2 * seconds + 1)

    with ThreadPoolExecutor(1, thread_name_prefix="dmltk-connect") as pool:
        try:
            reply = pool.submit(asyncio.run, ask_within()).result()
        except (OSError, TimeoutError) as error:
            if _is_tls_failure(error):
                raise OSError(
                    f"The scheduler at {address} refused the TLS connection "
                    f"({error}): check that the certificates are the cluster's "
                    "(signed by its CA) and that the key matches the certificate."
                ) from error
            if isinstance(error, TimeoutError):  # asyncio.wait_for expired
                raise OSError(
                    f"Something at {address} accepted the connection but did not "
                    f"answer as a Dask scheduler within {2 * seconds + 1:g} s. "
                    "Check the address and port (the scheduler's, often 8786, not "
                    "the dashboard's)."
                ) from None
            raise _unreachable(address, timeout, error) from error
        except Exception as error:  # bytes that are not Dask's protocol
            reply = error
    if not (isinstance(reply, dict) and reply.get("type") == "Scheduler"):
        raise OSError(
            f"{address} did not answer as a Dask scheduler (its answer: "
            f"{reply!r:.80}). Check the address and port (the scheduler's, often "
            "8786, not the dashboard's)."
        )


def _unreachable(address: str, timeout, error: BaseException) -> OSError:
    return OSError(
        f"Could not reach the Dask scheduler at {address} within {timeout}: "
        f"{error}. Check that `dask scheduler` runs there and that the address "
        "and port are right."
    )


def _is_tls_failure(error: BaseException) -> bool:
    """Whether a connection failed in its TLS handshake: an ``ssl.SSLError``
    in the chain of causes, or named in distributed's CommClosedError."""
    seen = error
    while seen is not None:
        if isinstance(seen, ssl.SSLError) or "SSL" in type(seen).__name__:
            return True
        if "SSLError" in str(seen) or "SSLEOFError" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _client(
    address: str | None,
    timeout: float | str | None,
    local_cluster_kwargs: dict,
    security=None,
) -> Client:
    active = _active_client()
    if active is not None and (address is None or address == active.scheduler.address):
        return active
    if address is not None:
        if local_cluster_kwargs:
            raise TypeError(
                "Options for a local cluster were given together with a scheduler "
                f"address ({address}): {sorted(local_cluster_kwargs)}. Pass one or "
                "the other."
            )
        if timeout is None:
            timeout = dask.config.get("distributed.comm.timeouts.connect")
        _check_scheduler_answers(address, timeout, security)
        try:
            return Client(
                address, timeout=timeout, set_as_default=True, security=security
            )
        except (OSError, TimeoutError) as error:
            raise _unreachable(address, timeout, error) from error
    n_workers = local_cluster_kwargs.pop("n_workers", psutil.cpu_count() or 1)
    options = {
        "processes": True,
        "threads_per_worker": 1,
        "memory_limit": int(psutil.virtual_memory().total * 0.9 / n_workers),
        **local_cluster_kwargs,
    }
    # Work stealing would move a persisted block to another worker to even
    # out a short queue of millisecond tasks: exactly the traffic a fit
    # avoids. The scheduler reads this setting when it starts.
    with dask.config.set({"distributed.scheduler.work-stealing": False}):
        return Client(n_workers=n_workers, set_as_default=True, **options)
