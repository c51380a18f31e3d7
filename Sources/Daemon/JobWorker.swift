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
        Values(pollInterval: .milliseconds(Int64(config.pollInterval * 1000)), leaseDuration: config.leaseDuration)
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

    func run() async throws {
        // Jobs in flight, shared between the leasing loop and the job tasks.
        let running = SharedValue(0)
        await withDiscardingTaskGroup { group in
            await withGracefulShutdownHandler {
                while !Task.isShuttingDownGracefully && !Task.isCancelled {
                    health.tick()
                    let timing = settings.current
                    let free = concurrency - running.value
                    var leased = 0
                    if free > 0 {
                        do {
                            let jobs = try await queue.lease(owner: owner, limit: free, leaseDuration: timing.leaseDuration)
                            leased = jobs.count
                            for job in jobs {
                                running.update { $0 += 1 }
                                group.addTask {
                                    await execute(job)
                                    running.update { $0 -= 1 }
                                    doorbell.ring()
                                }
                            }
                        } catch {
                            logger.error("Leasing jobs failed", metadata: ["error": "\(error)"])
                        }
                    }
                    // A full lease means more may be due: look again at once when a slot is free.
                    if leased > 0, leased == free, running.value < concurrency { continue }
                    await doorbell.wait(timeout: timing.pollInterval)
                }
            } onGracefulShutdown: {
                doorbell.ring()
            }
            logger.info("Job worker draining", metadata: ["jobs.running": "\(running.value)"])
        }
        logger.info("Job worker stopped")
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
