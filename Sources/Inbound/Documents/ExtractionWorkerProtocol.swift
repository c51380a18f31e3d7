public import Core
public import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The framing between the daemon and a long-lived extraction worker (`astralisd-extract
/// --serve`) on the worker's stdin and stdout. Every frame is a 4-byte big-endian length and that
/// many bytes. A request is one frame of `ExtractionRequest` JSON, followed — when the request
/// carries no `path` — by one frame with the document's bytes. A response is one frame of
/// `DocumentOutcome` JSON. The worker handles one request at a time; end of input ends it.
public enum ExtractionFrames {
    /// Largest header or outcome frame accepted (the document bytes are bounded by
    /// `documents.max_file_bytes` instead).
    static let maxControlFrame = 256 << 20

    public static func frame(_ payload: Data) -> Data {
        var data = length(payload.count)
        data.append(payload)
        return data
    }

    /// The 4-byte length that starts a frame of `count` bytes.
    public static func length(_ count: Int) -> Data {
        var length = UInt32(clamping: count).bigEndian
        return Data(bytes: &length, count: 4)
    }

    /// Reads exactly `count` bytes; nil at end of input (or a read error) before that.
    static func readExactly(_ handle: FileHandle, _ count: Int) -> Data? {
        var data = Data()
        data.reserveCapacity(min(count, 1 << 20))
        while data.count < count {
            guard let chunk = try? handle.read(upToCount: min(count - data.count, 1 << 20)), !chunk.isEmpty else { return nil }
            data.append(chunk)
        }
        return data
    }

    /// The next frame's payload; nil at end of input or when the length exceeds `limit`.
    public static func read(_ handle: FileHandle, limit: Int) -> Data? {
        guard let header = readExactly(handle, 4) else { return nil }
        let length = header.reduce(0) { $0 << 8 | Int($1) }
        guard length <= limit else { return nil }
        return length == 0 ? Data() : readExactly(handle, length)
    }
}

/// One document for a worker: how to compare its type, and where its bytes are.
public struct ExtractionRequest: Sendable, Codable, Equatable {
    public var declaredType: String
    public var filename: String
    /// A stored blob file the worker opens itself; nil when the bytes follow in the next frame.
    public var path: String?

    public init(declaredType: String, filename: String, path: String? = nil) {
        self.declaredType = declaredType
        self.filename = filename
        self.path = path
    }
}

extension ExtractionChild {
    /// `RLIMIT_CPU` counts the whole life of a process, so a worker gives each document its own
    /// budget: before a document, the soft limit becomes the CPU time used so far plus
    /// `cpuSeconds` (rounded up to whole seconds, the limit's unit). The hard limit, fixed when
    /// the worker starts (`applyLimits(hardCPUSeconds:)`), leaves room for `maxDocuments` full
    /// budgets, and the pool replaces the worker before that. A document past its budget gets
    /// SIGXCPU, as in the one-shot child.
    public static func allowCPU(seconds: Int) -> String? {
        var usage = rusage()
        guard getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage) == 0 else { return "getrusage failed: errno \(errno)" }
        let microseconds = (Int(usage.ru_utime.tv_sec) + Int(usage.ru_stime.tv_sec)) * 1_000_000 + Int(usage.ru_utime.tv_usec) + Int(usage.ru_stime.tv_usec)
        let used = (microseconds + 999_999) / 1_000_000
        var current = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_CPU.rawValue), &current) == 0 else { return "getrlimit(RLIMIT_CPU) failed: errno \(errno)" }
        let soft = rlim_t(used + seconds)
        guard soft < current.rlim_max else { return "the worker's CPU budget (hard RLIMIT_CPU \(current.rlim_max) s) is used up" }
        var cpu = rlimit(rlim_cur: soft, rlim_max: current.rlim_max)
        if setrlimit(__rlimit_resource_t(RLIMIT_CPU.rawValue), &cpu) != 0 { return "setrlimit(RLIMIT_CPU) failed: errno \(errno)" }
        return nil
    }

    /// The hard CPU limit of a worker that may handle `maxDocuments` documents of at most
    /// `cpuSeconds` each (plus up to one second of rounding per document, and a margin).
    public static func workerHardCPUSeconds(cpuSeconds: Int, maxDocuments: Int) -> Int {
        let perDocument = cpuSeconds + 2
        let (total, overflow) = perDocument.multipliedReportingOverflow(by: max(1, maxDocuments))
        return overflow ? Int(Int32.max) : min(Int(Int32.max), total + 2)
    }

    /// The worker loop of `astralisd-extract --serve`, after `applyLimits`: requests in on stdin,
    /// outcomes out on stdout, until end of input (exit 0). Returns the exit status. Anything a
    /// document does to the process (a crash, SIGXCPU, the address-space limit) ends it; the pool
    /// fails that document and starts a fresh worker.
    /// `extract` is the extraction itself (`DocumentTextExtractor.extract` of the Extraction
    /// module, which only `astralisd-extract` links): data, declared type, filename, settings.
    public static func serve(settings: ExtractionSettings, input: FileHandle = .standardInput, output: FileHandle = .standardOutput, extract: (Data, String, String, ExtractionSettings) -> DocumentOutcome, log: (String) -> Void) -> Int32 {
        let environment = ProcessInfo.processInfo.environment
        let delay = environment["ASTRALISD_EXTRACT_TEST_DELAY_MS"].flatMap(Int.init) ?? 0
        let hooks = environment["ASTRALISD_EXTRACT_TEST_HOOKS"] == "1"
        let decoder = JSONDecoder()
        let encoder = JSONEncoder()
        while true {
            guard let header = ExtractionFrames.read(input, limit: ExtractionFrames.maxControlFrame) else { return 0 }
            guard let request = try? decoder.decode(ExtractionRequest.self, from: header) else {
                log("request header is not valid JSON")
                return 65
            }
            let data: Data
            if let path = request.path {
                guard let handle = FileHandle(forReadingAtPath: path) else {
                    let outcome = DocumentOutcome(status: .failed, reason: "cannot open the stored document \(path)")
                    guard let encoded = try? encoder.encode(outcome), (try? output.write(contentsOf: ExtractionFrames.frame(encoded))) != nil else { return 70 }
                    continue
                }
                data = (try? handle.read(upToCount: settings.limits.maxFileBytes + 1)) ?? Data()
                try? handle.close()
            } else {
                guard let bytes = ExtractionFrames.read(input, limit: settings.limits.maxFileBytes + (1 << 20)) else {
                    log("document bytes missing or over documents.max_file_bytes")
                    return 65
                }
                data = bytes
            }
            if let problem = allowCPU(seconds: settings.limits.cpuSeconds) {
                log(problem)
                return 70
            }
            // Test hooks: hold the worker (a test looks at it or kills it), or misbehave on one
            // named document the way a hostile file could.
            if delay > 0 { usleep(UInt32(min(delay, 600_000)) * 1000) }
            if hooks {
                switch request.filename {
                case "crash.test-hook": raise(SIGSEGV)
                case "hang.test-hook": sleep(3600)
                case "spin.test-hook":
                    var spin: UInt64 = 0
                    while spin != 1 { spin = spin &* 6364136223846793005 &+ 1442695040888963407 }
                default: break
                }
            }
            let outcome = extract(data, request.declaredType, request.filename, settings)
            guard let encoded = try? encoder.encode(outcome) else {
                log("cannot encode the result")
                return 70
            }
            // The daemon went away: nothing more to do.
            guard (try? output.write(contentsOf: ExtractionFrames.frame(encoded))) != nil else { return 0 }
        }
    }
}
