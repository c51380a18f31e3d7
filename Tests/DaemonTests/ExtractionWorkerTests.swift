import Core
import Extraction
import Foundation
import Inbound
import Logging
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension DaemonProcessTests {
    /// Long-lived extraction workers (`astralisd-extract --serve`) through `ExtractionWorkerPool`,
    /// with real child processes.
    @Suite("documents: long-lived extraction workers")
    struct ExtractionWorkers {
        /// Pids the pool started and the reasons it replaced workers for.
        final class Record: @unchecked Sendable {
            // @unchecked: both arrays are guarded by `lock`.
            private let lock = NSLock()
            private var startedPids: [Int32] = []
            private var replacedReasons: [String] = []
            func started(_ pid: Int32) { lock.lock(); startedPids.append(pid); lock.unlock() }
            func replaced(_ reason: String) { lock.lock(); replacedReasons.append(reason); lock.unlock() }
            var pids: [Int32] { lock.lock(); defer { lock.unlock() }; return startedPids }
            var reasons: [String] { lock.lock(); defer { lock.unlock() }; return replacedReasons }
        }

        static func pool(concurrency: Int = 1, record: Record) -> ExtractionWorkerPool {
            ExtractionWorkerPool(concurrency: concurrency, observer: DocumentObserver(workerReplaced: { record.replaced($0) }), logger: Logger(label: "test"))
        }

        static func sandbox(_ limits: DocumentsConfig = DocumentsConfig(), environment: [String: String] = ["ASTRALISD_EXTRACT_TEST_HOOKS": "1"], record: Record) throws -> ExtractionSandbox {
            var limits = limits
            limits.ocrThreads = 1
            return ExtractionSandbox(executable: try TestTools.extractor(), settings: ExtractionSettings(limits: limits), environment: environment) { record.started($0) }
        }

        static func run(_ pool: ExtractionWorkerPool, _ sandbox: ExtractionSandbox, text: String, filename: String = "doc.pdf") async -> DocumentOutcome {
            await pool.run(sandbox, data: DocumentFixtures.textPDF(pages: [[text]]), file: nil, declaredType: "application/pdf", filename: filename)
        }

        @Test("one worker extracts many documents, sent as bytes or as a file path", .timeLimit(.minutes(2)))
        func manyDocuments() async throws {
            let record = Record()
            let pool = Self.pool(record: record)
            let sandbox = try Self.sandbox(record: record)
            for index in 0..<12 {
                let outcome = await Self.run(pool, sandbox, text: "Invoice INV-\(index) total 12.00")
                #expect(outcome.status == .completed, "\(outcome.reason ?? "")")
                #expect(outcome.extraction?.text.contains("INV-\(index)") == true)
            }
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("astralisd-worker-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let file = directory.appendingPathComponent("blob")
            try DocumentFixtures.textPDF(pages: [["Stored blob B-77"]]).write(to: file)
            let stored = await pool.run(sandbox, data: Data(), file: file, declaredType: "", filename: "b.pdf")
            #expect(stored.status == .completed, "\(stored.reason ?? "")")
            #expect(stored.extraction?.text.contains("B-77") == true)
            #expect(record.pids.count == 1, "\(record.pids)")
            #expect(record.reasons.isEmpty, "\(record.reasons)")

            // Two at a time on two workers at most.
            let wide = Self.pool(concurrency: 2, record: record)
            let outcomes = await withTaskGroup(of: DocumentOutcome.self) { group in
                for index in 0..<8 { group.addTask { await Self.run(wide, sandbox, text: "Receipt R-\(index)") } }
                return await group.reduce(into: []) { $0.append($1) }
            }
            #expect(outcomes.count == 8)
            #expect(outcomes.allSatisfy { $0.status == .completed })
            #expect(record.pids.count <= 3, "\(record.pids)")
            await pool.shutdown()
            await wide.shutdown()
        }

        @Test("the worker's limits: address space, and a hard CPU limit sized for its documents", .timeLimit(.minutes(1)))
        func workerLimits() async throws {
            var limits = DocumentsConfig()
            limits.memoryLimitBytes = 768 << 20
            limits.cpuSeconds = 17
            limits.workerMaxDocuments = 10
            let seen = LimitsProbe()
            let record = Record()
            let pool = Self.pool(record: record)
            // The worker sleeps 3 s per document after setting that document's CPU budget; the
            // table is read until the soft CPU limit has moved from its start-up value (17).
            let sandbox = ExtractionSandbox(executable: try TestTools.extractor(), settings: ExtractionSettings(limits: limits), environment: ["ASTRALISD_EXTRACT_TEST_DELAY_MS": "3000"]) { pid in
                record.started(pid)
                Thread.detachNewThread {
                    let deadline = Date().addingTimeInterval(5)
                    while Date() < deadline {
                        let table = (try? String(contentsOfFile: "/proc/\(pid)/limits", encoding: .utf8)) ?? ""
                        seen.record(table)
                        let cpu = table.split(separator: "\n").first { $0.hasPrefix("Max cpu time") }
                        // Unlimited before the worker applied its limits, 17 until the document's budget is set.
                        let soft = cpu.flatMap { $0.dropFirst("Max cpu time".count).split(separator: " ").first }.flatMap { Int($0) }
                        if let soft, soft != 17 { break }
                        usleep(50_000)
                    }
                }
            }
            let outcome = await Self.run(pool, sandbox, text: "Invoice 2041")
            #expect(outcome.status == .completed, "\(outcome.reason ?? "")")
            let table = seen.text
            func row(_ name: String) -> [String] {
                table.split(separator: "\n").first { $0.hasPrefix(name) }.map { $0.dropFirst(name.count).split(separator: " ").map(String.init) } ?? []
            }
            #expect(row("Max address space").prefix(2) == ["\(768 << 20)", "\(768 << 20)"], "\(table)")
            let cpu = row("Max cpu time").prefix(2).compactMap { Int($0) }
            // Soft: CPU used so far (rounded up) + 17; hard: 10 documents × (17 + 2) + 2.
            #expect(cpu.count == 2 && cpu[0] >= 18 && cpu[0] <= 25, "\(table)")
            #expect(cpu.last == ExtractionChild.workerHardCPUSeconds(cpuSeconds: 17, maxDocuments: 10), "\(table)")
            #expect(cpu.last == 192)
            #expect(row("Max core file size").prefix(2) == ["0", "0"], "\(table)")
            await pool.shutdown()
        }

        @Test("a crash, a timeout and the CPU limit fail only their document; the next one runs on a fresh worker", .timeLimit(.minutes(2)))
        func hostileDocuments() async throws {
            let record = Record()
            let pool = Self.pool(record: record)
            var limits = DocumentsConfig()
            limits.timeoutSeconds = 6
            limits.cpuSeconds = 1
            let sandbox = try Self.sandbox(limits, record: record)

            #expect(await Self.run(pool, sandbox, text: "Before").status == .completed)
            let crashed = await Self.run(pool, sandbox, text: "x", filename: "crash.test-hook")
            #expect(crashed.status == .failed)
            #expect(crashed.reason?.hasPrefix("extraction child crashed with signal 11 (SIGSEGV)") == true, "\(crashed.reason ?? "")")
            let after = await Self.run(pool, sandbox, text: "After crash A-1")
            #expect(after.status == .completed, "\(after.reason ?? "")")
            #expect(after.extraction?.text.contains("A-1") == true)

            let start = ContinuousClock.now
            let hung = await Self.run(pool, sandbox, text: "x", filename: "hang.test-hook")
            #expect(hung.status == .failed)
            #expect(hung.reason == "extraction timed out after 6 s (documents.timeout_seconds); child killed")
            #expect(ContinuousClock.now - start < .seconds(15))
            #expect(await Self.run(pool, sandbox, text: "After timeout").status == .completed)

            let spun = await Self.run(pool, sandbox, text: "x", filename: "spin.test-hook")
            #expect(spun.status == .failed)
            #expect(spun.reason == "extraction used more than 1 s of CPU (documents.cpu_seconds); child killed", "\(spun.reason ?? "")")
            #expect(await Self.run(pool, sandbox, text: "After spin").status == .completed)
            #expect(record.reasons == ["crash", "timeout", "cpu_limit"])
            #expect(record.pids.count == 4, "\(record.pids)")

            // Documents queued behind a crashing one (one worker) are not lost: each gets a worker.
            let outcomes = await withTaskGroup(of: (String, DocumentOutcome).self) { group in
                group.addTask { ("crash", await Self.run(pool, sandbox, text: "x", filename: "crash.test-hook")) }
                for index in 0..<4 { group.addTask { ("q\(index)", await Self.run(pool, sandbox, text: "Queued Q-\(index)")) } }
                return await group.reduce(into: [String: DocumentOutcome]()) { $0[$1.0] = $1.1 }
            }
            #expect(outcomes["crash"]?.status == .failed)
            for index in 0..<4 {
                #expect(outcomes["q\(index)"]?.status == .completed, "\(outcomes["q\(index)"]?.reason ?? "")")
                #expect(outcomes["q\(index)"]?.extraction?.text.contains("Q-\(index)") == true)
            }

            // A worker killed from outside while idle: the next document goes to a fresh one.
            // The group above may have run the crashing document last, leaving no worker at all:
            // one more document makes sure exactly one is idle.
            #expect(await Self.run(pool, sandbox, text: "Settle S-1").status == .completed)
            let idle = await pool.idleWorkers
            #expect(idle.count == 1)
            for pid in idle { kill(pid, SIGKILL) }
            usleep(200_000)
            let afterKill = await Self.run(pool, sandbox, text: "After kill K-1")
            #expect(afterKill.status == .completed, "\(afterKill.reason ?? "")")
            #expect(record.reasons.last == "exited" || record.reasons.last == "lost", "\(record.reasons)")
            await pool.shutdown()
        }

        @Test("a worker is replaced after worker_max_documents documents and when the settings change", .timeLimit(.minutes(2)))
        func recycling() async throws {
            let record = Record()
            let pool = Self.pool(record: record)
            var limits = DocumentsConfig()
            limits.workerMaxDocuments = 3
            let sandbox = try Self.sandbox(limits, record: record)
            for index in 0..<7 {
                let outcome = await Self.run(pool, sandbox, text: "Doc D-\(index)")
                #expect(outcome.status == .completed, "\(outcome.reason ?? "")")
            }
            #expect(record.pids.count == 3, "\(record.pids)")
            #expect(Set(record.pids).count == 3)
            #expect(record.reasons == ["recycled", "recycled"])

            var changed = limits
            changed.ocrEnabled = false
            let other = try Self.sandbox(changed, record: record)
            #expect(await Self.run(pool, other, text: "New settings").status == .completed)
            #expect(record.reasons == ["recycled", "recycled", "settings_changed"])
            #expect(record.pids.count == 4)
            await pool.shutdown()
        }

        @Test("documents.ocr false reaches the worker: an image completes with no text and a note", .timeLimit(.minutes(1)))
        func ocrDisabled() async throws {
            let record = Record()
            let pool = Self.pool(record: record)
            var limits = DocumentsConfig()
            limits.ocrEnabled = false
            let sandbox = try Self.sandbox(limits, record: record)
            // A page with text, as an image: the PDF's first-page thumbnail.
            let pdf = DocumentFixtures.textPDF(pages: [["INVOICE NUMBER 4711"]])
            let rendered = DocumentTextExtractor.extract(pdf, declaredType: "", filename: "", settings: ExtractionSettings(limits: DocumentsConfig(thumbnailWidth: 600)))
            let png = try #require(rendered.extraction?.thumbnailPNG)
            let image = await pool.run(sandbox, data: png, file: nil, declaredType: "image/png", filename: "scan.png")
            #expect(image.status == .completed, "\(image.reason ?? "")")
            #expect(image.extraction?.text == "")
            #expect(image.extraction?.pages.contains { $0.source == .ocr } == false)
            #expect(image.extraction?.notes?.first?.hasPrefix("ocr disabled") == true)
            await pool.shutdown()
        }
    }
}
