"""Every hook of the kernel.

Three families:

- **registration** hooks (``rosetta_register_*``) are called once while the kernel is built. Each
  receives a ``register`` callback; the kernel knows which plugin called it, so two plugins that
  register the same name stop start-up with both names.
- **lifecycle** hooks (``rosetta_startup``, ``rosetta_shutdown``) bracket the kernel's life.
- **task event** hooks are called after a task transition has been committed to the store.

Implementations may take any subset of a hook's arguments, and must not give them defaults.
A plugin may add hook specs of its own through the historic ``rosetta_addhooks``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from sqlite_utils import Migrations

    from rosetta_core.agent.extensions import AgentExtension
    from rosetta_core.auth import Authenticator
    from rosetta_core.builders import ImageBuilder
    from rosetta_core.engines import ContainerEngine
    from rosetta_core.executors import ExecutorFactory
    from rosetta_core.kernel import Kernel
    from rosetta_core.model import Computing, Task, TaskEvent, User
    from rosetta_core.storage import StorageBackend
    from rosetta_core.tunnels import Tunnel
    from rosetta_core.workload import WorkloadManager

PROJECT = "rosetta"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# ---------------------------------------------------------------- meta


@hookspec(historic=True)
def rosetta_addhooks(pluginmanager: pluggy.PluginManager) -> None:
    """Add hook specifications of your own.

    Called once for every plugin, including plugins registered after the call was first made
    (the hook is historic). Call ``pluginmanager.add_hookspecs(module_or_class)``.

    :param pluginmanager: the kernel's pluggy plugin manager.
    :return: ignored.
    """


@hookspec
def rosetta_register_options(register: Callable[[type[Any]], None]) -> None:
    """Register the attrs class that holds this plugin's options.

    Called first while the kernel is built. The site configuration's ``[plugin.<name>]`` section
    (``<name>`` being the plugin's entry-point name) is structured into the class with the strict
    converter; errors name the path, e.g. ``$.plugin.podman.binary``. Read the result with
    ``kernel.options(cls)``. A plugin with no section gets the class built with no arguments.

    :param register: call ``register(options_class)`` at most once.
    :return: ignored.
    """


@hookspec
def rosetta_register_engines(register: Callable[[str, ContainerEngine], None], kernel: Kernel) -> None:
    """Register container engines by name (``docker``, ``podman``, ...).

    :param register: call ``register(name, engine)`` for each engine.
    :param kernel: the kernel being built; its options are already structured.
    :return: ignored.
    """


@hookspec
def rosetta_register_workload_managers(
    register: Callable[[str, WorkloadManager], None], kernel: Kernel
) -> None:
    """Register workload managers (batch schedulers) by name (``slurm``, ``pbs``, ...).

    The name ``none`` is reserved: it means "run the engine directly on the resource".

    :param register: call ``register(name, workload_manager)`` for each one.
    :param kernel: the kernel being built.
    :return: ignored.
    """


@hookspec
def rosetta_register_executors(register: Callable[[str, ExecutorFactory], None], kernel: Kernel) -> None:
    """Register executor factories by name (``local``, ``ssh``, ...).

    A factory takes a :class:`~rosetta_core.model.Computing` and returns the
    :class:`~rosetta_core.executors.Executor` that acts on it.

    :param register: call ``register(name, factory)`` for each one.
    :param kernel: the kernel being built.
    :return: ignored.
    """


@hookspec
def rosetta_register_tunnels(register: Callable[[str, Tunnel], None], kernel: Kernel) -> None:
    """Register tunnels by name (``direct``, ``proxy``, ...).

    :param register: call ``register(name, tunnel)`` for each one.
    :param kernel: the kernel being built.
    :return: ignored.
    """


@hookspec
def rosetta_register_authenticators(register: Callable[[str, Authenticator], None], kernel: Kernel) -> None:
    """Register authenticators by name (``local``, ``oidc``, ...).

    :param register: call ``register(name, authenticator)`` for each one.
    :param kernel: the kernel being built.
    :return: ignored.
    """


@hookspec
def rosetta_register_storages(register: Callable[[str, StorageBackend], None], kernel: Kernel) -> None:
    """Register storage backends by kind (``posix``, ...).

    :param register: call ``register(kind, backend)`` for each one.
    :param kernel: the kernel being built.
    :return: ignored.
    """


@hookspec
def rosetta_register_builders(register: Callable[[str, ImageBuilder], None], kernel: Kernel) -> None:
    """Register image builders by name (``binder``, ...).

    :param register: call ``register(name, builder)`` for each one.
    :param kernel: the kernel being built.
    :return: ignored.
    """


@hookspec
def rosetta_register_migrations(register: Callable[[Migrations], None]) -> None:
    """Register a set of named store migrations.

    Pass a :class:`sqlite_utils.Migrations` whose set name is unique (use the plugin's name). The
    kernel applies the core set first, then each plugin's set in registration order, every migration
    in its own transaction. Never edit a migration once shipped; add a new one.

    :param register: call ``register(migrations)`` for each set.
    :return: ignored.
    """


# ---------------------------------------------------------------- lifecycle


@hookspec
def rosetta_startup(kernel: Kernel) -> None:
    """React to the kernel having started.

    Called by ``Kernel.start()`` after migrations ran and before the first reconcile pass.
    An exception stops start-up.

    :param kernel: the started kernel.
    :return: ignored.
    """


@hookspec
def rosetta_serve(kernel: Kernel) -> list[str] | None:
    """Start a server for users in the long-running process (``rosetta serve``).

    Called once by ``rosetta serve`` after the tunnels' servers started, before the orchestrator's
    loop; never by one-off commands. Start the server (on a thread: return promptly) and stop it
    in ``rosetta_shutdown``. An exception stops ``rosetta serve`` with the error.

    :param kernel: the kernel.
    :return: lines to print for the operator (the address, a first sign-in), or ``None``.
    """


@hookspec
def rosetta_shutdown(kernel: Kernel) -> None:
    """Release what the plugin holds; the kernel is shutting down.

    Called once by ``Kernel.close()``, before the store is closed. Exceptions are logged, not raised,
    so every plugin gets its call.

    :param kernel: the kernel being closed.
    :return: ignored.
    """


# ---------------------------------------------------------------- users


@hookspec
def rosetta_user_created(user: User, kernel: Kernel) -> None:
    """Prepare what a new user needs (an SSH key pair, a home directory, a quota).

    Called by :func:`rosetta_core.users.create_user` after the user row is committed. An exception
    undoes the creation: the user row and any key pair rows of the user are deleted, and the error
    reaches the caller.

    :param user: the stored user.
    :param kernel: the kernel.
    :return: ignored.
    """


@hookspec
def rosetta_agent_extensions(task: Task, computing: Computing, kernel: Kernel) -> list[AgentExtension] | None:
    """Code for the in-job agent of a batch task to run beside it on the compute node.

    Called when the task's job is submitted. Each extension's source travels in the job script and
    runs once the task's interface listens (see :mod:`rosetta_core.agent.extensions`). The reverse
    tunnel plugin returns its dialer here for resources that use it.

    :param task: the task being submitted.
    :param computing: its computing resource.
    :param kernel: the kernel.
    :return: a list of :class:`~rosetta_core.agent.extensions.AgentExtension`, or ``None``.
    """


# ---------------------------------------------------------------- task events


@hookspec
def rosetta_task_event(task: Task, event: TaskEvent, kernel: Kernel) -> None:
    """Observe any task transition, ``starting`` and ``unknown`` included.

    Called after the transition and its event are committed, before the status-specific hook.

    :param task: the task as stored after the transition.
    :param event: the persisted event.
    :param kernel: the kernel.
    :return: ignored.
    """


@hookspec
def rosetta_task_progress(task: Task, event: TaskEvent, kernel: Kernel) -> None:
    """Observe progress of long work on a task (an image pull, say); the status is unchanged.

    Called after the progress event is committed. Progress is rate-limited by the orchestrator
    (about one event a second, and the last one).

    :param task: the task as stored.
    :param event: the persisted event; ``from_status`` equals ``to_status``, ``detail`` says what.
    :param kernel: the kernel.
    :return: ignored.
    """


@hookspec
def rosetta_task_created(task: Task, kernel: Kernel) -> None:
    """Observe a task that was just created (status ``created``).

    :param task: the stored task.
    :param kernel: the kernel.
    :return: ignored.
    """


@hookspec
def rosetta_task_queued(task: Task, kernel: Kernel) -> None:
    """Observe a task that was accepted for running (status ``queued``).

    :param task: the stored task.
    :param kernel: the kernel.
    :return: ignored.
    """


@hookspec
def rosetta_task_started(task: Task, kernel: Kernel) -> None:
    """Observe a task whose interface is up (status ``running``).

    :param task: the stored task, with ``interface_host`` and ``interface_port`` when known.
    :param kernel: the kernel.
    :return: ignored.
    """


@hookspec
def rosetta_task_exited(task: Task, kernel: Kernel) -> None:
    """Observe a task whose container ended by itself (status ``exited``).

    :param task: the stored task, with ``exit_code`` when known.
    :param kernel: the kernel.
    :return: ignored.
    """


@hookspec
def rosetta_task_failed(task: Task, kernel: Kernel) -> None:
    """Observe a task that could not start or that crashed (status ``failed``).

    :param task: the stored task; ``error`` says why in words a user can read.
    :param kernel: the kernel.
    :return: ignored.
    """


@hookspec
def rosetta_task_stopped(task: Task, kernel: Kernel) -> None:
    """Observe a task stopped on request (status ``stopped``).

    :param task: the stored task.
    :param kernel: the kernel.
    :return: ignored.
    """
