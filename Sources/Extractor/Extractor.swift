import ArgumentParser
import Core
import Dispatch
import Extraction
import Foundation
import Inbound
#if canImport(Glibc)
import Glibc
#endif

/// `astralisd-extract`: the program the daemon runs to decode documents, so that the daemon itself
/// never links or maps poppler, cairo, Leptonica or Tesseract. `--child` extracts one document
/// (limits first, then bytes on stdin, the outcome as JSON on stdout); `--serve` is a long-lived
/// worker of the daemon's `ExtractionWorkerPool` (`ExtractionFrames` protocol). Operators use
/// `astralisd extract FILE`, which runs this program in the same sandbox; `--bench DIR` measures
/// extraction in this process.
@main
struct Extractor: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "astralisd-extract",
        abstract: "Document extraction for astralisd (started by the daemon; see `astralisd extract FILE`)."
    )

    @Option(help: "Benchmark: extract every file in this folder in this process and print timings as JSON.") var bench: String?
    @Option(help: "With --bench: take the `documents` settings from this configuration file.") var config: String?
    @Option(help: "With --bench: files extracted at once (each one OCRs with one thread).") var workers = 1
    @Flag(help: "With --bench: no orientation detection or deskew before OCR.") var noAutoRotate = false
    @Flag(help: "With --bench: no thumbnails.") var noThumbnails = false

    // The daemon's side (hidden).
    @Flag(help: .hidden) var child = false
    @Flag(help: .hidden) var serve = false
    @Option(help: .hidden) var maxDocuments: Int?
    @Option(help: .hidden) var memoryBytes: Int?
    @Option(help: .hidden) var cpuSeconds: Int?
    @Option(help: .hidden) var settings: String?
    @Option(help: .hidden) var declaredType = ""
    @Option(help: .hidden) var filename = ""

    func run() throws {
        if child || serve {
            Self.unblockSignals()
        }
        if child {
            runChild()
        }
        if serve {
            runServe()
        }
        guard let bench else {
            throw ValidationError("give --bench DIR; the daemon runs this program with --child or --serve, operators use `astralisd extract FILE`")
        }
        var settings = ExtractionSettings(limits: try documentsConfig(), autoRotate: !noAutoRotate, thumbnails: !noThumbnails)
        try runBench(folder: bench, settings: &settings)
    }

    /// The `documents` section of `--config`, else the defaults.
    func documentsConfig() throws -> DocumentsConfig {
        do {
            return try ConfigParser.documents(configFile: config, environment: ProcessInfo.processInfo.environment)
        } catch {
            FileHandle.standardError.write(Data("\(error.description)\n".utf8))
            throw ExitCode(1)
        }
    }

    /// The child: limits before anything is read, then stdin → outcome JSON → exit 0. A problem
    /// with the arguments is exit 64; anything the input does is reported in the JSON or ends
    /// the process by a signal the parent explains.
    func runChild() -> Never {
        guard let memoryBytes, let cpuSeconds else { Self.fail("--child needs --memory-bytes and --cpu-seconds", code: 64) }
        if let problem = ExtractionChild.applyLimits(memoryBytes: memoryBytes, cpuSeconds: cpuSeconds) { Self.fail(problem, code: 70) }
        // Test hook: hold the child (limits applied, nothing read yet) so a test can look at it.
        if let delay = ProcessInfo.processInfo.environment["ASTRALISD_EXTRACT_TEST_DELAY_MS"].flatMap(Int.init), delay > 0 {
            usleep(UInt32(min(delay, 600_000)) * 1000)
        }
        guard let text = settings, let parsed = try? JSONDecoder().decode(ExtractionSettings.self, from: Data(text.utf8)) else {
            Self.fail("--child needs valid --settings JSON", code: 64)
        }
        let input = FileHandle.standardInput
        var data = Data()
        while let chunk = try? input.read(upToCount: 1 << 20), !chunk.isEmpty {
            data.append(chunk)
            if data.count > parsed.limits.maxFileBytes { break }
        }
        let outcome = DocumentTextExtractor.extract(data, declaredType: declaredType, filename: filename, settings: parsed)
        guard let encoded = try? JSONEncoder().encode(outcome) else { Self.fail("cannot encode the result", code: 70) }
        FileHandle.standardOutput.write(encoded)
        Foundation.exit(0)
    }

    /// A long-lived worker (`--serve`, started by the daemon's `ExtractionWorkerPool`): limits
    /// first — the hard CPU limit sized for `--max-documents` documents, each of which gets its
    /// own `--cpu-seconds` budget — then framed requests on stdin until end of input.
    func runServe() -> Never {
        guard let memoryBytes, let cpuSeconds, let maxDocuments, maxDocuments > 0 else { Self.fail("--serve needs --memory-bytes, --cpu-seconds and --max-documents", code: 64) }
        let hard = ExtractionChild.workerHardCPUSeconds(cpuSeconds: cpuSeconds, maxDocuments: maxDocuments)
        if let problem = ExtractionChild.applyLimits(memoryBytes: memoryBytes, cpuSeconds: cpuSeconds, hardCPUSeconds: hard) { Self.fail(problem, code: 70) }
        guard let text = settings, let parsed = try? JSONDecoder().decode(ExtractionSettings.self, from: Data(text.utf8)) else {
            Self.fail("--serve needs valid --settings JSON", code: 64)
        }
        let status = ExtractionChild.serve(settings: parsed, extract: DocumentTextExtractor.extract) { message in
            FileHandle.standardError.write(Data("astralisd-extract: \(message)\n".utf8))
        }
        Foundation.exit(status)
    }

    /// A spawned process starts with the signal mask of the thread that spawned it, and the
    /// daemon's threads block most signals: SIGXCPU would stay pending on this single-threaded
    /// program, the kernel would keep raising the soft CPU limit, and a runaway document would
    /// run into the wall-clock timeout instead of `documents.cpu_seconds`.
    static func unblockSignals() {
        var none = sigset_t()
        sigemptyset(&none)
        pthread_sigmask(SIG_SETMASK, &none, nil)
    }

    static func fail(_ message: String, code: Int32) -> Never {
        FileHandle.standardError.write(Data("astralisd-extract: \(message)\n".utf8))
        Foundation.exit(code)
    }

    /// `--bench DIR`: every file extracted in this process (no child), `workers` at once, each
    /// with one OCR thread; prints files, pages by source and seconds as JSON.
    func runBench(folder: String, settings: inout ExtractionSettings) throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
        let files = names.map { (folder as NSString).appendingPathComponent($0) }.filter { !$0.hasSuffix(".json") && !$0.hasSuffix(".txt") }
        settings.limits.ocrThreads = 1
        let fixed = settings
        let inputs = files.compactMap { FileManager.default.contents(atPath: $0) }
        let results = BenchResults(count: inputs.count)
        let start = DispatchTime.now().uptimeNanoseconds
        let next = BenchResults.Counter()
        DispatchQueue.concurrentPerform(iterations: max(1, workers)) { _ in
            while let index = next.take(below: inputs.count) {
                results.set(index, DocumentTextExtractor.extract(inputs[index], declaredType: "", filename: "", settings: fixed))
            }
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let outcomes = results.all
        let pages = outcomes.compactMap(\.extraction).flatMap(\.pages)
        let report: [String: Any] = [
            "files": outcomes.count,
            "failed": outcomes.filter { $0.status != .completed }.count,
            "pages": pages.count,
            "layer_pages": pages.filter { $0.source == .layer }.count,
            "ocr_pages": pages.filter { $0.source == .ocr }.count,
            "workers": workers,
            "seconds": seconds,
        ]
        let data = try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }
}

/// Results of a bench run, written from several threads.
private final class BenchResults: @unchecked Sendable {
    // @unchecked: `values` is guarded by `lock`.
    private let lock = NSLock()
    private var values: [DocumentOutcome?]

    init(count: Int) { values = Array(repeating: nil, count: count) }

    func set(_ index: Int, _ outcome: DocumentOutcome) {
        lock.lock()
        values[index] = outcome
        lock.unlock()
    }

    var all: [DocumentOutcome] {
        lock.lock()
        defer { lock.unlock() }
        return values.compactMap { $0 }
    }

    final class Counter: @unchecked Sendable {
        // @unchecked: `value` is guarded by `lock`.
        private let lock = NSLock()
        private var value = 0

        func take(below limit: Int) -> Int? {
            lock.lock()
            defer { lock.unlock() }
            guard value < limit else { return nil }
            value += 1
            return value - 1
        }
    }
}
