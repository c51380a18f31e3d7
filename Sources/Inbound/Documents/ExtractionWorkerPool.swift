public import Core
public import Foundation
public import Logging
#if canImport(Glibc)
import Glibc
#endif

/// Long-lived sandboxed extraction workers (`astralisd-extract --serve`), at most `concurrency`
/// of them, each handling one document at a time and many documents in its life. Starting a
/// child per document cost more than extracting most attachments; a worker pays it once.
///
/// The sandbox stays per document where it matters: every worker has RLIMIT_AS and a hard
/// RLIMIT_CPU, and gets a fresh CPU budget per document (`ExtractionChild.allowCPU`); the pool
/// kills a worker that overruns the wall-clock timeout. A worker that crashes, times out, hits a
/// limit or answers nonsense fails the document it was handling — with the same reasons as the
/// one-shot child — and is replaced; documents waiting for a worker wait for the pool, not for a
/// particular worker, so they go to a fresh one. A worker is also replaced after
/// `documents.worker_max_documents` documents (leaks, heap fragmentation) and when the settings
/// change (a reload). Every replacement is logged and counted by reason.
public actor ExtractionWorkerPool {
    private let slots: ExtractionSlots
    private var idle: [ExtractionWorker] = []
    private let observer: DocumentObserver
    private let logger: Logger

    public init(concurrency: Int, observer: DocumentObserver = DocumentObserver(), logger: Logger) {
        self.slots = ExtractionSlots(concurrency)
        self.observer = observer
        self.logger = logger
    }

    /// Extracts one document on a worker started from `sandbox` (executable, environment,
    /// settings). Never throws: failures are outcomes. `file`, when given, is opened by the
    /// worker itself; otherwise `data` is sent over the pipe.
    public func run(_ sandbox: ExtractionSandbox, data: Data, file: URL?, declaredType: String, filename: String) async -> DocumentOutcome {
        let input: ExtractionSandbox.Input = file.map { .file($0) } ?? .bytes(data)
        return await slots.withSlot {
            await self.runHoldingSlot(sandbox, input: input, declaredType: declaredType, filename: filename)
        }
    }

    /// Workers alive and idle (tests, shutdown).
    public var idleWorkers: [Int32] { idle.map(\.pid) }

    /// Ends every idle worker (end of input; they exit 0).
    public func shutdown() {
        for worker in idle { worker.finish() }
        idle.removeAll()
    }

    private func runHoldingSlot(_ sandbox: ExtractionSandbox, input: ExtractionSandbox.Input, declaredType: String, filename: String) async -> DocumentOutcome {
        // A worker that died between documents (killed from outside) cannot take the request;
        // the document then goes to a fresh worker once.
        var lost = ""
        for _ in 1...2 {
            let worker: ExtractionWorker
            do {
                worker = try checkOut(sandbox)
            } catch {
                return DocumentOutcome(status: .failed, reason: "cannot start an extraction worker: \(error)")
            }
            let answer = await Self.onThread { worker.handle(input, declaredType: declaredType, filename: filename) }
            switch answer {
            case .outcome(let outcome):
                worker.documents += 1
                if worker.documents >= worker.settings.limits.workerMaxDocuments {
                    replace(worker, reason: "recycled", level: .debug)
                } else {
                    idle.append(worker)
                }
                return outcome
            case .failed(let outcome, let reason):
                replace(worker, reason: reason, level: .warning, documentReason: outcome.reason)
                return outcome
            case .notDelivered(let detail):
                replace(worker, reason: "lost", level: .warning, documentReason: detail)
                lost = detail
            }
        }
        return DocumentOutcome(status: .failed, reason: "two extraction workers in a row ended before taking the document: \(lost)")
    }

    /// An idle worker started with the same executable, environment and settings, else a new one.
    private func checkOut(_ sandbox: ExtractionSandbox) throws -> ExtractionWorker {
        while let worker = idle.popLast() {
            if !worker.isRunning {
                replace(worker, reason: "exited", level: .warning)
                continue
            }
            if worker.settings != sandbox.settings || worker.executable != sandbox.executable || worker.environment != sandbox.environment {
                replace(worker, reason: "settings_changed", level: .info)
                continue
            }
            return worker
        }
        let worker = try ExtractionWorker.start(sandbox)
        sandbox.onSpawn?(worker.pid)
        logger.debug("Extraction worker started", metadata: ["worker.pid": "\(worker.pid)"])
        return worker
    }

    private func replace(_ worker: ExtractionWorker, reason: String, level: Logger.Level, documentReason: String? = nil) {
        worker.finish()
        observer.workerReplaced(reason)
        var metadata: Logger.Metadata = ["worker.pid": "\(worker.pid)", "worker.reason": "\(reason)", "worker.documents": "\(worker.documents)"]
        if let documentReason { metadata["document.reason"] = "\(documentReason)" }
        logger.log(level: level, "Extraction worker replaced", metadata: metadata)
    }

    /// Blocking pipe I/O runs on its own thread, never on the concurrency pool.
    private static func onThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            let thread = Thread { continuation.resume(returning: body()) }
            thread.name = "astralisd-extract"
            thread.start()
        }
    }
}

/// One `astralisd-extract --serve` child and its pipes.
final class ExtractionWorker: @unchecked Sendable {
    // @unchecked: the pool hands a worker to one document at a time, and only that document's
    // thread touches `process` and the pipes then; `documents` is changed by the pool actor only
    // between documents; `errors` locks itself.
    let process: Process
    let stdin: FileHandle
    let stdout: FileHandle
    let errors: ErrorTail
    let settings: ExtractionSettings
    let executable: String
    let environment: [String: String]
    var documents = 0

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }

    private init(process: Process, stdin: FileHandle, stdout: FileHandle, errors: ErrorTail, sandbox: ExtractionSandbox) {
        self.process = process
        self.stdin = stdin
        self.stdout = stdout
        self.errors = errors
        self.settings = sandbox.settings
        self.executable = sandbox.executable
        self.environment = sandbox.environment
    }

    /// The worker's arguments (after the executable).
    static func arguments(_ settings: ExtractionSettings) throws -> [String] {
        let limits = settings.limits
        return [
            "--serve",
            "--memory-bytes", String(limits.memoryLimitBytes),
            "--cpu-seconds", String(limits.cpuSeconds),
            "--max-documents", String(limits.workerMaxDocuments),
            "--settings", String(decoding: try JSONEncoder().encode(settings), as: UTF8.self),
        ]
    }

    static func start(_ sandbox: ExtractionSandbox) throws -> ExtractionWorker {
        ExtractionSandbox.ignoreSIGPIPE
        let process = Process()
        process.executableURL = URL(fileURLWithPath: sandbox.executable)
        process.arguments = try arguments(sandbox.settings)
        process.environment = ExtractionSandbox.childEnvironment(sandbox.environment)
        let input = Pipe()
        let output = Pipe()
        let errorPipe = Pipe()
        // Another worker started later must not inherit these ends: a pipe stays open while any
        // process holds it, and the pool learns of a worker's death from end of file.
        for pipe in [input, output, errorPipe] {
            _ = fcntl(pipe.fileHandleForReading.fileDescriptor, F_SETFD, FD_CLOEXEC)
            _ = fcntl(pipe.fileHandleForWriting.fileDescriptor, F_SETFD, FD_CLOEXEC)
        }
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errorPipe
        try process.run()
        let errors = ErrorTail()
        let reader = Thread { errors.consume(errorPipe.fileHandleForReading) }
        reader.name = "astralisd-extract-stderr"
        reader.start()
        return ExtractionWorker(process: process, stdin: input.fileHandleForWriting, stdout: output.fileHandleForReading, errors: errors, sandbox: sandbox)
    }

    enum Answer: Sendable {
        /// The worker answered; it can take the next document.
        case outcome(DocumentOutcome)
        /// The worker ended (or was killed) on this document; the outcome says why.
        case failed(DocumentOutcome, restart: String)
        /// The worker was gone before it took the request.
        case notDelivered(String)
    }

    /// Sends one document and waits for its outcome, at most `timeout_seconds` (then the worker
    /// is killed). Blocking: runs on its own thread.
    func handle(_ input: ExtractionSandbox.Input, declaredType: String, filename: String) -> Answer {
        errors.reset()
        let limits = settings.limits
        let timedOut = TimeoutFlag()
        let pid = self.pid
        let timer = DispatchSource.makeTimerSource(queue: DispatchQueue.global())
        timer.schedule(deadline: .now() + limits.timeoutSeconds)
        timer.setEventHandler {
            timedOut.set()
            kill(pid, SIGKILL)
        }
        timer.resume()
        defer { timer.cancel() }
        var request = ExtractionRequest(declaredType: declaredType, filename: filename)
        var body: Data?
        switch input {
        case .file(let url): request.path = url.path
        case .bytes(let data): body = data
        }
        guard let header = try? JSONEncoder().encode(request) else {
            return .failed(DocumentOutcome(status: .failed, reason: "cannot encode the extraction request"), restart: "bad_request")
        }
        do {
            try stdin.write(contentsOf: ExtractionFrames.frame(header))
        } catch {
            // The worker was gone before this document reached it: not this document's doing.
            if !timedOut.isSet { return .notDelivered("\(error)") }
        }
        if let body {
            do {
                try stdin.write(contentsOf: ExtractionFrames.length(body.count))
                try stdin.write(contentsOf: body)
            } catch {
                // It ended while reading this document; its exit below says why.
            }
        }
        if let payload = ExtractionFrames.read(stdout, limit: ExtractionFrames.maxControlFrame) {
            if let outcome = try? JSONDecoder().decode(DocumentOutcome.self, from: payload) { return .outcome(outcome) }
            kill(pid, SIGKILL)
            process.waitUntilExit()
            return .failed(DocumentOutcome(status: .failed, reason: "extraction worker wrote \(payload.count) bytes that are not a valid result"), restart: "bad_output")
        }
        // End of output: the worker ended. Its exit says why.
        process.waitUntilExit()
        errors.waitUntilDone(timeout: 1)
        let failure = ExtractionSandbox.failure(
            timedOut: timedOut.isSet, terminationReason: process.terminationReason, status: process.terminationStatus,
            limits: limits, lastError: errors.lastLine
        )
        return .failed(failure.outcome, restart: failure.restart)
    }

    /// Ends the worker: end of input (it exits 0 when idle), and SIGKILL if it is still there
    /// five seconds later (busy on a document that was given up).
    func finish() {
        try? stdin.close()
        try? stdout.close()
        guard process.isRunning else { return }
        let thread = Thread { [self] in
            let deadline = Date().addingTimeInterval(5)
            while isRunning && Date() < deadline { usleep(20_000) }
            if isRunning { kill(pid, SIGKILL) }
        }
        thread.name = "astralisd-extract-finish"
        thread.start()
    }
}
