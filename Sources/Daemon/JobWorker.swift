import AsyncAlgorithms
import Core
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Something that carries out one kind of job. Handlers are idempotent: a job may run again after
/// a crash between its effect and its completion.
protocol JobHandling: Sendable {
    /// Runs the job. Returning `.completedWithEffects` means the handler marked the job done in
    /// the transaction that stored its effects; `.finished` asks the worker to complete it.
    func run(_ job: Job, claim: JobClaim) async throws -> JobCompletion
}

/// How a handler's successful run ended.
enum JobCompletion: Sendable {
    case finished
    case completedWithEffects
}

/// Wakes a waiting loop early. A ring with nobody waiting is remembered once, so a wake-up sent
/// just before the loop starts waiting is not lost.
final class Doorbell: Sendable {
    private struct State {
        var rung = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    func ring() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.rung = true
            return nil
        }
        waiter?.resume()
    }

    /// Returns on a ring, after `timeout`, or on cancellation.
    func wait(timeout: Duration) async {
        let timer = Task { [self] in
            try? await Task.sleep(for: timeout)
            if !Task.isCancelled { ring() }
        }
        defer { timer.cancel() }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.rung {
                        state.rung = false
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            ring()
        }
    }
}

/// The worker timings a reload may change while the loop runs.
final class WorkerSettings: Sendable {
    struct Values: Sendable {
        var pollInterval: Duration
        var leaseDuration: TimeInterval
        var burstConcurrency: Int
        var maxBurstPause: Duration
    }

    private let values: Mutex<Values>

    init(_ config: WorkerConfig) {
        values = Mutex(Self.values(from: config))
    }

    var current: Values { values.withLock { $0 } }

    func update(from config: WorkerConfig) {
        let new = Self.values(from: config)
        values.withLock { $0 = new }
    }

    private static func values(from config: WorkerConfig) -> Values {
        Values(pollInterval: .milliseconds(Int64(config.pollInterval * 1000)), leaseDuration: config.leaseDuration, burstConcurrency: config.burstConcurrency,
               maxBurstPause: .milliseconds(Int64(config.maxBurstPause * 1000)))
    }
}

/// When the job loop last went round; the watchdog pings systemd only while this is recent.
final class LoopHealth: Sendable {
    private let last = Mutex(ContinuousClock.now)
    func tick() { last.withLock { $0 = .now } }
    var sinceLastTick: Duration { last.withLock { ContinuousClock.now - $0 } }
}

/// Leases due jobs and runs them, at most `concurrency` at once. On graceful shutdown it stops
/// leasing and lets running jobs finish; jobs still running when the group cancels it are given
/// back to the queue (released) so another start picks them up at once.
///
/// When a slot frees and nothing is waiting, it leases for the free slots plus as many more as
/// may run at once, held until a slot frees: under a backlog one lease transaction then serves
/// about `concurrency + 1` jobs instead of one. Held jobs are leased like running ones;
/// one held past half its lease is extended before it starts (or dropped, if the lease was lost),
/// and held jobs are released when the worker stops.
///
/// While the webhook listener is busy (``IntakeLoad``) it starts at most
/// `workers.burst_concurrency` jobs at once (``limit(concurrency:timing:busyFor:)``; by default
/// none, for at most `workers.max_burst_pause_seconds`), and goes back to `concurrency` when it
/// is calm.
struct JobWorker: Service {
    let queue: any JobQueue
    let handlers: [String: any JobHandling]
    let concurrency: Int
    let settings: WorkerSettings
    let owner: String
    let doorbell: Doorbell
    let health: LoopHealth
    let metrics: DaemonMetrics
    let logger: Logger
    /// The public listener's load; nil: never held back.
    var intakeLoad: IntakeLoad? = nil

    /// A leased job waiting for a free slot.
    private struct Held {
        let job: Job
        let leasedAt: ContinuousClock.Instant
    }

    func run() async throws {
        // Jobs in flight, shared between the leasing loop and the job tasks.
        let running = SharedValue(0)
        var held: [Held] = []
        var lastLimit = concurrency
        metrics.jobSlots(concurrency)
        await withDiscardingTaskGroup { group in
            func start(_ job: Job) {
                running.update { $0 += 1 }
                group.addTask {
                    await execute(job)
                    running.update { $0 -= 1 }
                    doorbell.ring()
                }
            }
            await withGracefulShutdownHandler {
                while !Task.isShuttingDownGracefully && !Task.isCancelled {
                    health.tick()
                    let timing = settings.current
                    let limit = Self.limit(concurrency: concurrency, timing: timing, busyFor: intakeLoad?.busyFor)
                    if limit != lastLimit {
                        let message: Logger.Message = limit == concurrency ? "Webhook listener calm; full job concurrency"
                            : limit == 0 ? "Webhook listener busy; job processing paused" : "Webhook listener busy; starting fewer jobs"
                        logger.debug(message, metadata: ["jobs.limit": "\(limit)"])
                        metrics.jobSlots(limit)
                        lastLimit = limit
                    }
                    while running.value < limit, !held.isEmpty {
                        let next = held.removeFirst()
                        if await stillLeased(next, leaseDuration: timing.leaseDuration) { start(next.job) }
                    }
                    // Nothing is held once a slot is free here: lease for the free slots and as
                    // many more. A full answer fills every slot, so the loop then waits for one.
                    let free = limit - running.value
                    if free > 0 {
                        do {
                            let jobs = try await queue.lease(owner: owner, limit: free + limit, leaseDuration: timing.leaseDuration)
                            let now = ContinuousClock.now
                            for job in jobs {
                                if running.value < limit {
                                    start(job)
                                } else {
                                    held.append(Held(job: job, leasedAt: now))
                                }
                            }
                        } catch {
                            logger.error("Leasing jobs failed", metadata: ["error": "\(error)"])
                        }
                    }
                    // Held back for a busy listener: look again soon, to go back to full
                    // concurrency within moments of the burst ending.
                    await doorbell.wait(timeout: limit < concurrency ? min(timing.pollInterval, IntakeLoad.calmAfter) : timing.pollInterval)
                }
            } onGracefulShutdown: {
                doorbell.ring()
            }
            for waiting in held {
                do {
                    try await queue.release(jobID: waiting.job.id, owner: owner)
                } catch {
                    logger.warning("Releasing a held job failed; its lease will expire", metadata: ["job.id": "\(waiting.job.id)", "error": "\(error)"])
                }
            }
            held.removeAll()
            logger.info("Job worker draining", metadata: ["jobs.running": "\(running.value)"])
        }
        logger.info("Job worker stopped")
    }

    /// Jobs that may run at once now: `concurrency` while the listener is calm; while it is busy,
    /// `burst_concurrency`, except that a pause (0) lasts at most `max_burst_pause_seconds`,
    /// after which one job at a time runs, so a long burst never starves processing.
    static func limit(concurrency: Int, timing: WorkerSettings.Values, busyFor: Duration?) -> Int {
        guard let busyFor else { return concurrency }
        let burst = min(timing.burstConcurrency, concurrency)
        return burst == 0 && busyFor >= timing.maxBurstPause ? 1 : burst
    }

    /// Whether a held job may start: a lease more than half used is extended first, and a job
    /// whose lease was lost (taken by another worker after it expired) is dropped.
    private func stillLeased(_ held: Held, leaseDuration: TimeInterval) async -> Bool {
        guard ContinuousClock.now - held.leasedAt > .milliseconds(Int64(leaseDuration * 500)) else { return true }
        do {
            if try await queue.heartbeat(jobID: held.job.id, owner: owner, leaseDuration: leaseDuration) { return true }
            logger.notice("A held job's lease was lost before it started; leaving it to its new holder", metadata: ["job.id": "\(held.job.id)"])
            return false
        } catch {
            // Starting it anyway is safe: handlers are idempotent, and a lost lease makes its completion a no-op.
            logger.warning("Extending a held job's lease failed; starting it anyway", metadata: ["job.id": "\(held.job.id)", "error": "\(error)"])
            return true
        }
    }

    private func execute(_ job: Job) async {
        var logger = self.logger
        logger[metadataKey: "job.id"] = "\(job.id)"
        logger[metadataKey: "job.kind"] = "\(job.kind)"
        let started = ContinuousClock.now
        do {
            guard let handler = handlers[job.kind] else { throw PermanentJobError("no handler for job kind \(job.kind)") }
            if try await handler.run(job, claim: JobClaim(jobID: job.id, owner: owner)) == .finished {
                try await queue.complete(jobID: job.id, owner: owner)
            }
            metrics.jobFinished(kind: job.kind, outcome: "done", duration: .now - started)
        } catch where Task.isCancelled {
            do {
                try await queue.release(jobID: job.id, owner: owner)
            } catch {
                logger.warning("Releasing a cancelled job failed; its lease will expire", metadata: ["error": "\(error)"])
            }
            metrics.jobFinished(kind: job.kind, outcome: "released", duration: .now - started)
        } catch {
            let permanent = error is PermanentJobError
            let reason = "\(error)"
            do {
                let notBefore = (error as? RetryLaterJobError)?.notBefore
                let outcome = try await queue.fail(jobID: job.id, owner: owner, error: reason, permanent: permanent, notBefore: notBefore)
                switch outcome {
                case .retryAt(let date):
                    logger.warning("Job failed; will retry", metadata: ["error": "\(reason)", "job.attempt": "\(job.attempts)", "job.retry_at": "\(date)"])
                    metrics.jobFinished(kind: job.kind, outcome: "retry", duration: .now - started)
                case .dead:
                    logger.error("Job dead-lettered", metadata: ["error": "\(reason)", "job.attempt": "\(job.attempts)", "job.permanent": "\(permanent)"])
                    metrics.jobFinished(kind: job.kind, outcome: "dead", duration: .now - started)
                }
            } catch {
                logger.error("Recording a job failure failed; its lease will expire", metadata: ["error": "\(error)"])
            }
        }
    }
}

/// Pings the systemd watchdog while the job loop keeps going round. A loop stuck on a hung store
/// stops the pings, and systemd restarts the daemon (`WatchdogSec=`).
struct WatchdogService: Service {
    let notifier: SystemdNotifier
    let health: LoopHealth
    /// Longest a loop may take between ticks and still count as alive.
    let stallLimit: @Sendable () -> Duration
    let logger: Logger

    func run() async throws {
        guard let interval = notifier.watchdogInterval else { return try await gracefulShutdown() }
        let period = Duration.milliseconds(Int64(interval * 1000 / 3))
        var warned = false
        for await _ in AsyncTimerSequence(interval: period, clock: .continuous).cancelOnGracefulShutdown() {
            if health.sinceLastTick <= stallLimit() {
                notifier.watchdog()
                warned = false
            } else if !warned {
                logger.critical("Job loop stalled; withholding watchdog ping", metadata: ["loop.stalled_for": "\(health.sinceLastTick)"])
                warned = true
            }
        }
    }
}

/// Sends `STOPPING=1` as soon as a graceful shutdown starts. Placed last in the group so that it
/// is the first service told to shut down.
struct StoppingNotifier: Service {
    let notifier: SystemdNotifier
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        logger.info("Shutting down")
        notifier.stopping()
    }
}

/// Deletes finished jobs older than `workers.retain_done_jobs_hours`, at start and then every
/// ten minutes, in short transactions so that intake never waits long behind it. Dead jobs stay.
struct QueueJanitor: Service {
    static let batch = 5_000
    static let period: Duration = .seconds(600)

    let queue: any JobQueue
    let retention: @Sendable () -> TimeInterval
    let clock: any WallClock
    let logger: Logger

    func run() async throws {
        await sweep()
        for await _ in AsyncTimerSequence(interval: Self.period, clock: .continuous).cancelOnGracefulShutdown() {
            await sweep()
        }
    }

    func sweep() async {
        let cutoff = clock.now().addingTimeInterval(-retention())
        var total = 0
        do {
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                let removed = try await queue.purgeDoneJobs(finishedBefore: cutoff, limit: Self.batch)
                total += removed
                if removed < Self.batch { break }
            }
        } catch {
            logger.warning("Purging finished jobs failed; will try again", metadata: ["error": "\(error)"])
        }
        if total > 0 {
            logger.info("Purged finished jobs", metadata: ["jobs.purged": "\(total)"])
        }
    }
}
