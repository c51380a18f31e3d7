@testable import Daemon
import Core
import Foundation
import Logging
import ServiceLifecycle
import Storage
import Synchronization
import Testing

/// The job loop against a real store: jobs leased ahead of a free slot, given back when the
/// worker stops, and fewer jobs started while the webhook listener is busy.
@Suite("Job worker", .serialized)
struct JobWorkerTests {
    /// Jobs that wait until the test opens the gate, so the test sees how many run at once.
    final class Gate: Sendable {
        let started = Mutex<[String]>([])
        let open = Atomic(false)
        var startedCount: Int { started.withLock { $0.count } }
    }

    struct BlockingHandler: JobHandling {
        let gate: Gate
        func run(_ job: Job, claim: JobClaim) async throws -> JobCompletion {
            gate.started.withLock { $0.append(job.id) }
            while !gate.open.load(ordering: .relaxed) {
                try await Task.sleep(for: .milliseconds(5))
            }
            return .finished
        }
    }

    static let kind = "test.block"

    final class Fixture {
        let directory: URL
        let store: SQLiteStore
        let gate = Gate()
        let metrics = DaemonMetrics()
        let load = IntakeLoad()
        let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        let jobIDs: [String]

        init(jobs: Int) async throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("astralisd-worker-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            store = try SQLiteStore(path: directory.appendingPathComponent("db.sqlite").path, logger: logger)
            jobIDs = (0..<jobs).map { "job_worker_test_\($0)" }
            try await store.enqueue(jobIDs.map { NewJob(id: $0, kind: JobWorkerTests.kind, payload: .object([:])) })
        }

        deinit { try? FileManager.default.removeItem(at: directory) }

        func worker(concurrency: Int, burstConcurrency: Int, maxBurstPause: TimeInterval = 30, leaseDuration: TimeInterval = 60) -> JobWorker {
            let config = WorkerConfig(concurrency: concurrency, burstConcurrency: burstConcurrency, maxBurstPause: maxBurstPause, pollInterval: 0.05, leaseDuration: leaseDuration)
            return JobWorker(
                queue: store, handlers: [JobWorkerTests.kind: BlockingHandler(gate: gate)], concurrency: concurrency,
                settings: WorkerSettings(config), owner: "test-worker", doorbell: Doorbell(), health: LoopHealth(), metrics: metrics,
                logger: logger, intakeLoad: load)
        }

        func count(_ state: JobState) async throws -> Int { try await store.stats().total(state) }

        var metricsText: String { String(decoding: metrics.emit(), as: UTF8.self) }
    }

    /// Polls `condition` for up to five seconds.
    static func eventually(_ condition: () async throws -> Bool) async throws -> Bool {
        for _ in 0..<500 {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(10))
        }
        return try await condition()
    }

    @Test("one lease fills the free slots and holds as many again; held jobs go back when the worker stops")
    func heldJobsAreReleasedOnShutdown() async throws {
        let f = try await Fixture(jobs: 6)
        let group = ServiceGroup(services: [f.worker(concurrency: 2, burstConcurrency: 2)], logger: f.logger)
        let running = Task { try await group.run() }
        #expect(try await Self.eventually { f.gate.startedCount == 2 })
        #expect(try await f.count(.leased) == 4, "2 running and 2 held, from one lease")
        #expect(try await f.count(.ready) == 2)

        await group.triggerGracefulShutdown()
        // The held jobs are given back at once; the running ones are left to finish.
        #expect(try await Self.eventually { try await f.count(.ready) == 4 })
        #expect(try await f.count(.leased) == 2)
        f.gate.open.store(true, ordering: .relaxed)
        try await running.value
        #expect(try await f.count(.done) == 2)
        #expect(try await f.count(.ready) == 4)
        var attempts: [Int] = []
        for id in f.jobIDs {
            if let job = try await f.store.job(id: id), job.state == .ready { attempts.append(job.attempts) }
        }
        #expect(attempts == [0, 0, 0, 0], "a held job that never ran is released without using an attempt")
        #expect(f.gate.startedCount == 2, "nothing started after the shutdown began")
    }

    @Test("a held job whose lease another worker took meanwhile is not started")
    func heldJobWithLostLeaseIsDropped() async throws {
        let f = try await Fixture(jobs: 2)
        let group = ServiceGroup(services: [f.worker(concurrency: 1, burstConcurrency: 1, leaseDuration: 0.3)], logger: f.logger)
        let running = Task { try await group.run() }
        #expect(try await Self.eventually { f.gate.startedCount == 1 })
        #expect(try await f.count(.leased) == 2, "one running, one held")
        // Both leases run out while the first job is still busy, and another worker takes both.
        try await Task.sleep(for: .milliseconds(350))
        let taken = try await f.store.lease(owner: "other-worker", limit: 2, leaseDuration: 60)
        #expect(taken.map(\.id).sorted() == f.jobIDs)
        f.gate.open.store(true, ordering: .relaxed)
        // The slot frees; the held job's lease is past half, so the worker checks it, finds it
        // lost, and leaves the job to its new holder.
        try await Task.sleep(for: .milliseconds(300))
        #expect(f.gate.started.withLock { $0 } == [f.jobIDs[0]])
        let held = try #require(try await f.store.job(id: f.jobIDs[1]))
        #expect(held.state == .leased)
        #expect(held.leaseOwner == "other-worker")
        await group.triggerGracefulShutdown()
        try await running.value
    }

    @Test("a busy webhook listener holds job starts to workers.burst_concurrency until it is calm")
    func busyListenerLimitsStarts() async throws {
        let f = try await Fixture(jobs: 5)
        for _ in 0..<IntakeLoad.busyThreshold { f.load.begin() }
        #expect(f.load.isBusy)
        let group = ServiceGroup(services: [f.worker(concurrency: 3, burstConcurrency: 1)], logger: f.logger)
        let running = Task { try await group.run() }
        #expect(try await Self.eventually { f.gate.startedCount == 1 })
        // Several poll rounds (50 ms each) go by without a second start while the listener is busy.
        try await Task.sleep(for: .milliseconds(400))
        #expect(f.gate.startedCount == 1)
        #expect(f.metricsText.contains("astralisd_job_slots 1"), "\(f.metricsText)")

        for _ in 0..<IntakeLoad.busyThreshold { f.load.end() }
        #expect(try await Self.eventually { f.gate.startedCount == 3 }, "full concurrency once the listener is calm")
        #expect(f.metricsText.contains("astralisd_job_slots 3"))
        f.gate.open.store(true, ordering: .relaxed)
        #expect(try await Self.eventually { try await f.count(.done) == 5 })
        await group.triggerGracefulShutdown()
        try await running.value
    }

    @Test("burst_concurrency 0 pauses processing while the listener is busy, for at most max_burst_pause_seconds")
    func burstPause() async throws {
        let f = try await Fixture(jobs: 4)
        let started = ContinuousClock.now
        for _ in 0..<IntakeLoad.busyThreshold { f.load.begin() }
        let group = ServiceGroup(services: [f.worker(concurrency: 3, burstConcurrency: 0, maxBurstPause: 0.6)], logger: f.logger)
        let running = Task { try await group.run() }
        #expect(try await Self.eventually { f.metricsText.contains("astralisd_job_slots 0") }, "\(f.metricsText)")
        // Paused: several poll rounds (50 ms each) go by and nothing starts.
        try await Task.sleep(for: .milliseconds(300))
        #expect(f.gate.startedCount == 0)
        // The pause ends after 0.6 s of one burst: one job at a time, however long it lasts.
        #expect(try await Self.eventually { f.gate.startedCount == 1 })
        #expect(ContinuousClock.now - started >= .milliseconds(600))
        #expect(f.metricsText.contains("astralisd_job_slots 1"))
        try await Task.sleep(for: .milliseconds(300))
        #expect(f.gate.startedCount == 1, "still one at a time while the burst goes on")

        for _ in 0..<IntakeLoad.busyThreshold { f.load.end() }
        #expect(try await Self.eventually { f.gate.startedCount == 3 }, "full concurrency once the listener is calm")
        f.gate.open.store(true, ordering: .relaxed)
        #expect(try await Self.eventually { try await f.count(.done) == 4 })
        await group.triggerGracefulShutdown()
        try await running.value
    }

    @Test("the job limit: concurrency when calm, burst_concurrency when busy, one after a pause has run out")
    func limitRule() {
        func values(burst: Int, pause: Duration = .seconds(30)) -> WorkerSettings.Values {
            WorkerSettings.Values(pollInterval: .milliseconds(500), leaseDuration: 60, burstConcurrency: burst, maxBurstPause: pause)
        }
        #expect(JobWorker.limit(concurrency: 4, timing: values(burst: 0), busyFor: nil) == 4)
        #expect(JobWorker.limit(concurrency: 4, timing: values(burst: 0), busyFor: .seconds(29)) == 0)
        #expect(JobWorker.limit(concurrency: 4, timing: values(burst: 0), busyFor: .seconds(30)) == 1)
        #expect(JobWorker.limit(concurrency: 4, timing: values(burst: 2), busyFor: .seconds(300)) == 2, "a non-zero limit is not a pause and has no end")
        #expect(JobWorker.limit(concurrency: 2, timing: values(burst: 3), busyFor: .seconds(1)) == 2)
    }

    @Test("a burst's length counts from the moment the listener turned busy, and starts again after a calm spell")
    func burstLength() async throws {
        let load = IntakeLoad()
        #expect(load.busyFor == nil)
        for _ in 0..<IntakeLoad.busyThreshold { load.begin() }
        try await Task.sleep(for: .milliseconds(100))
        // More requests during the same burst do not restart it.
        load.begin()
        load.end()
        let first = try #require(load.busyFor)
        #expect(first >= .milliseconds(100))
        for _ in 0..<IntakeLoad.busyThreshold { load.end() }
        #expect(try await Self.eventually { load.busyFor == nil })
        for _ in 0..<IntakeLoad.busyThreshold { load.begin() }
        let second = try #require(load.busyFor)
        #expect(second < .milliseconds(100), "a new burst after calm: \(second)")
    }

    @Test("the listener counts as busy at the threshold, and until a quiet spell has passed")
    func intakeLoadHysteresis() async throws {
        let load = IntakeLoad()
        #expect(!load.isBusy)
        for _ in 0..<(IntakeLoad.busyThreshold - 1) { load.begin() }
        #expect(!load.isBusy, "below the threshold")
        load.begin()
        #expect(load.isBusy)
        #expect(load.requestsInFlight == IntakeLoad.busyThreshold)
        for _ in 0..<IntakeLoad.busyThreshold { load.end() }
        #expect(load.requestsInFlight == 0)
        #expect(load.isBusy, "a dip between two commit batches does not end the burst")
        #expect(try await Self.eventually { !load.isBusy }, "calm once \(IntakeLoad.calmAfter) has passed")
    }
}
