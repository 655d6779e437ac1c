"""The background worker: periodic steps (the sweep first) and queued jobs, so nothing waits for an operator.

`PERIODIC_STEPS` is the one list of work done on a schedule (the sweep, the audit checkpoint,
notification delivery); anything else that must happen by itself is one more entry. Two ways to run it:

- PostgreSQL: `hitl worker` processes, any number, driven by procrastinate on the same database
  (`periodic_app`): each step is a periodic task deferred once per tick whichever workers run, jobs
  of one thread share a procrastinate lock, and a job of a worker whose heartbeat stopped is queued
  again by the `requeue-stalled` task.
- SQLite: `InProcessWorker`, a thread in the process that serves (`hitl ui`, `hitl demo`, or `hitl
  worker` in the foreground), running the steps on their intervals and local jobs in a small pool.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from hitl_core import audit
from hitl_core import jobs as store
from hitl_core.errors import Unavailable
from hitl_core.settings import Settings
from hitl_runtime import jobs, notifications, queue
from hitl_runtime.runner import Runner

log = logging.getLogger("hitl.worker")


@dataclass(frozen=True)
class PeriodicStep:
    """Work done on a schedule: a name, its interval (from the settings) and what it does with a runner."""

    name: str
    interval: Callable[[Settings], float]
    run: Callable[[Runner], Any]


def _sweep(runner: Runner) -> Any:
    return runner.sweep(checkpoint=False)  # expiry and its fallback, unapplied decisions, agents' steps, retention


def _audit_checkpoint(runner: Runner) -> Any:
    return audit.checkpoint(runner.db).as_dict()  # signs every chain's head; writes nothing when nothing moved


def _notifications(runner: Runner) -> Any:
    return notifications.deliver_due(runner)  # deadline warnings, then what is due: at least once, with retries


PERIODIC_STEPS: list[PeriodicStep] = [
    PeriodicStep("sweep", lambda s: s.sweep_interval_seconds, _sweep),
    PeriodicStep("notifications", lambda s: s.notify_interval_seconds, _notifications),
    PeriodicStep("audit_checkpoint", lambda s: s.audit_checkpoint_seconds, _audit_checkpoint),
]
"""Every periodic step, in the order `--once` runs them (plug new ones in here)."""


def run_steps(runner: Runner, steps: list[PeriodicStep] | None = None) -> dict[str, Any]:
    """Run each step once; a failing step is reported (one line) and the others still run."""
    results: dict[str, Any] = {}
    for step in PERIODIC_STEPS if steps is None else steps:
        try:
            results[step.name] = step.run(runner)
        except Exception as exc:
            log.warning("periodic step %s failed: %s", step.name, jobs.line(exc))
            results[step.name] = {"error": jobs.line(exc)}
    return results


def run_local_jobs(runner: Runner) -> dict[str, int]:
    """Carry out every due local job (SQLite), one after another, until none is due; counts by outcome."""
    counts = {"done": 0, "failed": 0, "queued": 0}
    while (row := store.claim_local(runner.db)) is not None:
        counts[jobs.execute(runner, str(row["id"]), claimed=row, retry_delay=_retry_delay(runner))] += 1
    return counts


def _retry_delay(runner: Runner) -> float:
    return max(runner.settings.worker_poll_seconds, 0.5)


class InProcessWorker:
    """The SQLite worker: a thread running the periodic steps on their intervals and local jobs in a pool."""

    def __init__(
        self, runner: Runner, *, concurrency: int | None = None, steps: list[PeriodicStep] | None = None
    ) -> None:
        self.runner = runner
        self.concurrency = concurrency or runner.settings.worker_concurrency
        self.steps = PERIODIC_STEPS if steps is None else steps
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> InProcessWorker:
        """Run in a daemon thread (it dies with the process; `stop` ends it cleanly)."""
        self._thread = threading.Thread(target=self.run, name="hitl-worker", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the jobs under way and stop."""
        self._stop.set()
        jobs.local_wakeup.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run(self) -> None:
        """The loop: due steps, stalled jobs queued again, free slots filled, then a short wait."""
        settings = self.runner.settings
        beat = settings.worker_heartbeat_seconds
        last: dict[str, float] = {}
        last_beat = 0.0
        running: dict[str, Future[str]] = {}
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="hitl-job") as pool:
            while not self._stop.is_set():
                now = time.monotonic()
                for step in self.steps:
                    if now - last.get(step.name, -1e9) >= step.interval(settings):
                        last[step.name] = now
                        run_steps(self.runner, [step])
                try:
                    if now - last_beat >= beat:
                        last_beat = now
                        store.heartbeat(self.runner.db, list(running))
                        store.requeue_stalled_local(self.runner.db, 3 * beat)
                    for job_id in [j for j, f in running.items() if f.done()]:
                        running.pop(job_id)
                    while len(running) < self.concurrency:
                        row = store.claim_local(self.runner.db)
                        if row is None:
                            break
                        job_id = str(row["id"])
                        running[job_id] = pool.submit(
                            jobs.execute, self.runner, job_id, claimed=row, retry_delay=_retry_delay(self.runner)
                        )
                except Exception as exc:  # the database away for a moment: try again on the next tick
                    log.warning("worker loop: %s", jobs.line(exc))
                jobs.local_wakeup.wait(self._pause(last))
                jobs.local_wakeup.clear()

    def _pause(self, last: dict[str, float]) -> float:
        settings = self.runner.settings
        pause = settings.worker_poll_seconds
        for step in self.steps:
            due = last.get(step.name, 0.0) + step.interval(settings) - time.monotonic()
            pause = min(pause, max(due, 0.01))
        return pause


# -- PostgreSQL: procrastinate ------------------------------------------------------------------------
def cron_every(seconds: float) -> str:
    """A procrastinate cron (6th column: seconds) firing about every `seconds` (whole seconds or minutes)."""
    whole = max(1, round(seconds))
    if whole < 60:
        return f"* * * * * */{whole}"
    minutes = max(1, round(whole / 60))
    return f"*/{minutes} * * * *" if minutes < 60 else "0 * * * *"


def periodic_app(runner: Runner, *, periodic: bool = True) -> Any:
    """A procrastinate App on the runner's database: the job task and, with `periodic`, every step."""
    from procrastinate import App, PsycopgConnector, RetryStrategy

    app = App(connector=PsycopgConnector(conninfo=runner.db.target))
    retry = RetryStrategy(
        max_attempts=jobs.MAX_ATTEMPTS, wait=max(1, round(_retry_delay(runner))), retry_exceptions={jobs.RetryLater}
    )

    @app.task(name=queue.TASK_NAME, queue=queue.QUEUE, retry=retry)
    def execute_job(job_id: str) -> None:
        jobs.execute(runner, job_id, retry_delay=_retry_delay(runner))

    if not periodic:
        return app
    for step in PERIODIC_STEPS:
        _register_step(app, runner, step)
    beat = runner.settings.worker_heartbeat_seconds

    @app.periodic(cron=cron_every(beat), periodic_id="requeue-stalled")
    @app.task(name="hitl.requeue_stalled", queue=queue.QUEUE, queueing_lock="hitl.requeue_stalled")
    async def requeue_stalled_task(timestamp: int) -> None:
        await requeue_stalled(app, 3 * beat)

    return app


async def requeue_stalled(app: Any, silent_seconds: float) -> int:
    """Queue again the jobs of workers whose heartbeat stopped (killed); how many. A repeat is harmless (the runner).

    A stalled periodic step whose next tick is queued already cannot go back under its queueing
    lock (procrastinate #1446); it is finished as failed, since the queued one does its work, and
    left `doing` it would hold the step's lock for ever. One job that cannot be handled (taken by
    another worker meanwhile, the database away) does not keep the others from being requeued.
    """
    requeued = 0
    for job in await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=silent_seconds):
        try:
            requeued += await _requeue(app, job)
        except Exception as exc:
            log.warning("job %s of a silent worker was not queued again: %s", job.id, jobs.line(exc))
    return requeued


async def _requeue(app: Any, job: Any) -> bool:
    """Queue one stalled job again (True), or close it as failed when its next run is queued already (False)."""
    from procrastinate.exceptions import UniqueViolation
    from procrastinate.jobs import Status
    from procrastinate.manager import QUEUEING_LOCK_CONSTRAINT

    try:
        await app.job_manager.retry_job(job)
    except UniqueViolation as exc:
        if exc.constraint_name != QUEUEING_LOCK_CONSTRAINT:
            raise
        await app.job_manager.finish_job(job, status=Status.FAILED, delete_job=False)
        log.warning("job %s of a silent worker is closed: the next one of %s is queued", job.id, job.task_name)
        return False
    log.warning("job %s of a silent worker is queued again", job.id)
    return True


def _register_step(app: Any, runner: Runner, step: PeriodicStep) -> None:
    def periodic_step(timestamp: int) -> None:
        run_steps(runner, [step])

    # One queued and one running at most, whatever the number of workers: a slow sweep is never doubled.
    name = f"hitl.periodic.{step.name}"
    task = app.task(name=name, queue=queue.QUEUE, lock=name, queueing_lock=name)(periodic_step)
    app.periodic(cron=cron_every(step.interval(runner.settings)), periodic_id=step.name)(task)


class _SideTaskFailures(logging.Handler):
    """What procrastinate logs when a side task of its worker (heartbeat, listener, deferrer) fails.

    It then stops the worker and returns as if asked to stop; without this record `hitl worker`
    would exit 0 and a supervisor that restarts only on failure would leave no worker running.
    """

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.failed: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "action", None) in ("side_task_failed", "side_task_monitor_failed"):
            name = getattr(record, "task_name", None)
            task = f"{name} task" if name else "side-task monitor"
            self.failed.append(f"{task} ({_first_line(record.exc_info[1] if record.exc_info else None)})")


def _first_line(error: BaseException | None) -> str:
    """The innermost error's first line: procrastinate's own ("Database error.") wrap the driver's, which says what."""
    said = "no detail"
    while error is not None:
        if str(error).strip():
            said = jobs.line(error)
        error = error.__cause__ or error.__context__
    return said


def serve_postgres(runner: Runner, *, concurrency: int, once: bool) -> None:
    """Run procrastinate's worker in the foreground (`once`: the due jobs, then return).

    Raises `Unavailable` when procrastinate stopped it because a side task failed (exit 1, not 0).
    """
    queue.ensure_schema(runner.db)
    app = periodic_app(runner, periodic=not once)
    beat = runner.settings.worker_heartbeat_seconds

    async def work() -> None:
        async with app.open_async():
            if once:  # no long-running worker may be there to do it (cron)
                await requeue_stalled(app, 3 * beat)
            await app.run_worker_async(
                queues=[queue.QUEUE],
                concurrency=concurrency,
                wait=not once,
                update_heartbeat_interval=beat,
                stalled_worker_timeout=3 * beat,
                fetch_job_polling_interval=runner.settings.worker_poll_seconds,
                install_signal_handlers=threading.current_thread() is threading.main_thread(),
            )

    failures = _SideTaskFailures()
    procrastinate_log = logging.getLogger("procrastinate")
    procrastinate_log.addHandler(failures)
    try:
        asyncio.run(work())
    finally:
        procrastinate_log.removeHandler(failures)
    if failures.failed:
        raise Unavailable(f"the worker stopped: its {failures.failed[0]} failed; start it again once that is mended")


def run_once(runner: Runner, *, concurrency: int | None = None) -> dict[str, Any]:
    """`hitl worker --once`: every periodic step once, then every due job; a summary."""
    steps = run_steps(runner)
    if runner.db.dialect == "postgresql":
        serve_postgres(runner, concurrency=concurrency or runner.settings.worker_concurrency, once=True)
        return {"steps": steps, "backend": "procrastinate"}
    return {"steps": steps, "jobs": run_local_jobs(runner), "backend": "in-process"}


def serve(runner: Runner, *, concurrency: int | None = None) -> None:
    """`hitl worker`: until stopped (SIGTERM or Ctrl-C)."""
    count = concurrency or runner.settings.worker_concurrency
    if runner.db.dialect == "postgresql":
        serve_postgres(runner, concurrency=count, once=False)
        return
    worker = InProcessWorker(runner, concurrency=count)
    try:
        worker.run()
    finally:
        worker.stop()
