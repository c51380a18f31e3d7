public import Core
public import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs `astralisd-extract --child` for one document: bytes on stdin, a `DocumentOutcome` as JSON
/// on stdout. The child applies RLIMIT_AS, RLIMIT_CPU and RLIMIT_CORE (0) to itself before it
/// reads any input (`ExtractionChild.applyLimits`); the parent kills it after the wall-clock
/// timeout. Any way the child can end badly — a signal, the CPU limit, the timeout, a non-zero
/// exit, output that is not the expected JSON — is that document's `failed` outcome with a reason.
public struct ExtractionSandbox: Sendable {
    /// The `astralisd-extract` executable (`extractorExecutable`: next to the daemon's own).
    public var executable: String
    public var settings: ExtractionSettings
    /// Extra environment for the child (tests).
    public var environment: [String: String]
    /// Called with the child's pid once it runs (tests read /proc/<pid>/limits).
    public var onSpawn: (@Sendable (Int32) -> Void)?

    public init(executable: String = ExtractionSandbox.extractorExecutable(), settings: ExtractionSettings, environment: [String: String] = [:], onSpawn: (@Sendable (Int32) -> Void)? = nil) {
        self.executable = executable
        self.settings = settings
        self.environment = environment
        self.onSpawn = onSpawn
    }

    public static var selfExecutable: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    /// The extraction executable: `$ASTRALISD_EXTRACT_BIN` when set (tests, unusual installs),
    /// else `astralisd-extract` in the directory of `daemon` (the running executable). A separate
    /// program so the daemon never maps poppler, cairo, Leptonica or Tesseract (docs/architecture.md).
    public static func extractorExecutable(environment: [String: String] = ProcessInfo.processInfo.environment, daemon: String = selfExecutable) -> String {
        if let path = environment["ASTRALISD_EXTRACT_BIN"], !path.isEmpty { return path }
        return URL(fileURLWithPath: daemon).deletingLastPathComponent().appendingPathComponent("astralisd-extract").path
    }

    /// Why the extraction executable cannot be used (nil when it can): the daemon refuses to start
    /// without it, since any attachment or uploaded file needs it.
    public static func extractorProblem(_ path: String) -> String? {
        guard FileManager.default.isExecutableFile(atPath: path) else {
            return "document extraction executable \(path) is missing or not executable: install astralisd-extract next to astralisd (or set ASTRALISD_EXTRACT_BIN)"
        }
        return nil
    }

    /// The child's arguments (after the executable).
    func arguments(declaredType: String, filename: String) -> [String] {
        let json = (try? JSONEncoder().encode(settings)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        return [
            "--child",
            "--memory-bytes", String(settings.limits.memoryLimitBytes),
            "--cpu-seconds", String(settings.limits.cpuSeconds),
            "--settings", json,
            "--declared-type", declaredType,
            "--filename", filename,
        ]
    }

    /// A child writing to a closed stdin pipe must not take the daemon down with SIGPIPE.
    static let ignoreSIGPIPE: Void = { _ = signal(SIGPIPE, SIG_IGN) }()

    /// Extracts `data` in a child process. Never throws: failures are outcomes.
    public func run(_ data: Data, declaredType: String, filename: String) async -> DocumentOutcome {
        await run(input: .bytes(data), declaredType: declaredType, filename: filename)
    }

    /// Extracts the bytes of `file` in a child process whose stdin is the file itself, so the
    /// daemon never reads a large stored blob into memory to hand it over.
    public func run(file: URL, declaredType: String, filename: String) async -> DocumentOutcome {
        await run(input: .file(file), declaredType: declaredType, filename: filename)
    }

    /// What the child reads on stdin.
    enum Input: Sendable {
        case bytes(Data)
        case file(URL)
    }

    private func run(input data: Input, declaredType: String, filename: String) async -> DocumentOutcome {
        Self.ignoreSIGPIPE
        let arguments = arguments(declaredType: declaredType, filename: filename)
        let timeout = settings.limits.timeoutSeconds
        let limits = settings.limits
        let executable = executable
        let environment = environment
        let onSpawn = onSpawn
        return await withCheckedContinuation { continuation in
            let thread = Thread {
                continuation.resume(returning: Self.runBlocking(executable: executable, arguments: arguments, environment: environment, input: data, timeout: timeout, limits: limits, onSpawn: onSpawn))
            }
            thread.name = "astralisd-extract"
            thread.start()
        }
    }

    private static func runBlocking(executable: String, arguments: [String], environment: [String: String], input: Input, timeout: TimeInterval, limits: DocumentsConfig, onSpawn: (@Sendable (Int32) -> Void)?) -> DocumentOutcome {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = childEnvironment(environment)
        let stdin = Pipe()
        let stdout = Pipe()
        let stderr = Pipe()
        var inputFile: FileHandle?
        switch input {
        case .bytes:
            process.standardInput = stdin
        case .file(let url):
            do {
                inputFile = try FileHandle(forReadingFrom: url)
            } catch {
                return DocumentOutcome(status: .failed, reason: "cannot open the stored document: \(error)")
            }
            process.standardInput = inputFile
        }
        defer { try? inputFile?.close() }
        process.standardOutput = stdout
        process.standardError = stderr
        do {
            try process.run()
        } catch {
            return DocumentOutcome(status: .failed, reason: "cannot start the extraction child: \(error)")
        }
        let pid = process.processIdentifier
        onSpawn?(pid)
        let timedOut = TimeoutFlag()
        let timer = DispatchSource.makeTimerSource(queue: DispatchQueue.global())
        timer.schedule(deadline: .now() + timeout)
        timer.setEventHandler {
            timedOut.set()
            kill(pid, SIGKILL)
        }
        timer.resume()
        let errorText = ErrorTail()
        let errorReader = Thread {
            errorText.consume(stderr.fileHandleForReading)
        }
        errorReader.start()
        if case .bytes(let bytes) = input {
            do {
                try stdin.fileHandleForWriting.write(contentsOf: bytes)
            } catch {
                // The child stopped reading (it died or refused); its exit says why.
            }
        }
        try? stdin.fileHandleForWriting.close()
        let output = (try? stdout.fileHandleForReading.readToEnd()) ?? Data()
        process.waitUntilExit()
        timer.cancel()
        errorText.waitUntilDone()
        let lastError = errorText.lastLine

        if timedOut.isSet || process.terminationReason != .exit || process.terminationStatus != 0 {
            return failure(timedOut: timedOut.isSet, terminationReason: process.terminationReason, status: process.terminationStatus, limits: limits, lastError: lastError).outcome
        }
        do {
            return try JSONDecoder().decode(DocumentOutcome.self, from: output)
        } catch {
            return DocumentOutcome(status: .failed, reason: "extraction child wrote \(output.count) bytes that are not a valid result")
        }
    }

    /// The environment of every extraction child (one-shot or worker).
    static func childEnvironment(_ extra: [String: String]) -> [String: String] {
        var childEnvironment = ProcessInfo.processInfo.environment.filter { key, _ in
            // Only what the child needs: no credentials or config overrides leak into it.
            ["PATH", "LANG", "LC_ALL", "TESSDATA_PREFIX", "HOME", "TMPDIR"].contains(key)
        }
        // Tesseract would start OpenMP threads of its own per handle; parallelism is ours.
        childEnvironment["OMP_THREAD_LIMIT"] = "1"
        // A crash ends the child at once: no Swift backtracer (seconds of CPU, a helper process).
        childEnvironment["SWIFT_BACKTRACE"] = "enable=no"
        childEnvironment.merge(extra) { _, new in new }
        return childEnvironment
    }

    /// Why a child that ended without a result failed its document, in the words the store
    /// keeps, and the short reason a worker pool counts its replacement under.
    static func failure(timedOut: Bool, terminationReason: Process.TerminationReason, status: Int32, limits: DocumentsConfig, lastError: String?) -> (outcome: DocumentOutcome, restart: String) {
        if timedOut {
            return (DocumentOutcome(status: .failed, reason: "extraction timed out after \(Self.seconds(limits.timeoutSeconds)) s (documents.timeout_seconds); child killed"), "timeout")
        }
        switch terminationReason {
        case .uncaughtSignal:
            if status == SIGXCPU {
                return (DocumentOutcome(status: .failed, reason: "extraction used more than \(limits.cpuSeconds) s of CPU (documents.cpu_seconds); child killed"), "cpu_limit")
            }
            var reason = "extraction child crashed with signal \(status) (\(Self.signalName(status)))"
            if [SIGABRT, SIGTRAP, SIGILL, SIGSEGV, SIGBUS, SIGKILL].contains(status) {
                reason += "; the memory limit of \(limits.memoryLimitBytes >> 20) MiB (documents.memory_limit_bytes) may have been reached"
            }
            if let lastError { reason += ": \(lastError)" }
            return (DocumentOutcome(status: .failed, reason: reason), "crash")
        case .exit:
            return (DocumentOutcome(status: .failed, reason: "extraction child exited with status \(status)" + (lastError.map { ": \($0)" } ?? "")), "exit")
        @unknown default:
            return (DocumentOutcome(status: .failed, reason: "extraction child ended abnormally"), "crash")
        }
    }

    static func seconds(_ value: TimeInterval) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }

    static func signalName(_ signal: Int32) -> String {
        switch signal {
        case SIGSEGV: return "SIGSEGV"
        case SIGABRT: return "SIGABRT"
        case SIGBUS: return "SIGBUS"
        case SIGILL: return "SIGILL"
        case SIGTRAP: return "SIGTRAP"
        case SIGKILL: return "SIGKILL"
        case SIGFPE: return "SIGFPE"
        case SIGTERM: return "SIGTERM"
        case SIGXCPU: return "SIGXCPU"
        case SIGXFSZ: return "SIGXFSZ"
        default: return "signal \(signal)"
        }
    }
}

/// Set once by the timeout timer, read after the child ended.
final class TimeoutFlag: @unchecked Sendable {
    // @unchecked: guarded by `lock`.
    private let lock = NSLock()
    private var value = false
    func set() { lock.lock(); value = true; lock.unlock() }
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
}

/// The last bytes the child wrote to stderr (at most 4 KiB kept), read on its own thread so a
/// chatty child cannot block on a full pipe.
final class ErrorTail: @unchecked Sendable {
    // @unchecked: `tail` and `done` are guarded by `condition`.
    private let condition = NSCondition()
    private var tail = Data()
    private var done = false

    func consume(_ handle: FileHandle) {
        while true {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            condition.lock()
            tail.append(chunk)
            if tail.count > 4096 { tail = tail.suffix(4096) }
            condition.unlock()
        }
        condition.lock()
        done = true
        condition.broadcast()
        condition.unlock()
    }

    /// Forgets what earlier documents of a long-lived worker wrote.
    func reset() {
        condition.lock()
        tail.removeAll()
        condition.unlock()
    }

    /// Like `waitUntilDone()`, but gives up after `timeout` seconds (a process that inherited
    /// the pipe could keep it open).
    func waitUntilDone(timeout: TimeInterval) {
        let deadline = Date().addingTimeInterval(timeout)
        condition.lock()
        while !done && condition.wait(until: deadline) {}
        condition.unlock()
    }

    func waitUntilDone() {
        condition.lock()
        while !done { condition.wait() }
        condition.unlock()
    }

    var lastLine: String? {
        condition.lock()
        defer { condition.unlock() }
        let lines = String(decoding: tail, as: UTF8.self).split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        return lines.last.map { String($0.prefix(300)) }
    }
}

/// What the child itself does before it touches input.
public enum ExtractionChild {
    /// Applies the limits to this process: address space, CPU seconds (soft limit: SIGXCPU; hard
    /// one second later: SIGKILL), no core files. Called first thing in `astralisd-extract --child`; a
    /// worker (`--serve`) passes a larger hard CPU limit and moves the soft one per
    /// document (`allowCPU(seconds:)`).
    public static func applyLimits(memoryBytes: Int, cpuSeconds: Int, hardCPUSeconds: Int? = nil) -> String? {
        var memory = rlimit(rlim_cur: rlim_t(memoryBytes), rlim_max: rlim_t(memoryBytes))
        if setrlimit(__rlimit_resource_t(RLIMIT_AS.rawValue), &memory) != 0 { return "setrlimit(RLIMIT_AS) failed: errno \(errno)" }
        var cpu = rlimit(rlim_cur: rlim_t(cpuSeconds), rlim_max: rlim_t(hardCPUSeconds ?? cpuSeconds + 1))
        if setrlimit(__rlimit_resource_t(RLIMIT_CPU.rawValue), &cpu) != 0 { return "setrlimit(RLIMIT_CPU) failed: errno \(errno)" }
        var core = rlimit(rlim_cur: 0, rlim_max: 0)
        if setrlimit(__rlimit_resource_t(RLIMIT_CORE.rawValue), &core) != 0 { return "setrlimit(RLIMIT_CORE) failed: errno \(errno)" }
        return nil
    }
}
