import Core
import Foundation
import Inbound
import Testing

extension DaemonProcessTests {
    /// The extraction child (`astralisd-extract --child`) and documents in the running daemon.
    @Suite("documents: sandboxed extraction")
    struct Documents {
        static func sandbox(_ limits: DocumentsConfig = DocumentsConfig(), environment: [String: String] = [:], onSpawn: (@Sendable (Int32) -> Void)? = nil) throws -> ExtractionSandbox {
            ExtractionSandbox(executable: try TestTools.extractor(), settings: ExtractionSettings(limits: limits), environment: environment, onSpawn: onSpawn)
        }

        @Test("the child extracts a PDF and its limits are in force while it runs", .timeLimit(.minutes(1)))
        func childLimits() async throws {
            var limits = DocumentsConfig()
            limits.memoryLimitBytes = 768 << 20
            limits.cpuSeconds = 17
            let seen = LimitsProbe()
            let sandbox = try Self.sandbox(limits, environment: ["ASTRALISD_EXTRACT_TEST_DELAY_MS": "1500"]) { pid in
                // The child sleeps 1.5 s after applying its limits and before reading input.
                usleep(700_000)
                seen.record((try? String(contentsOfFile: "/proc/\(pid)/limits", encoding: .utf8)) ?? "")
            }
            let pdf = DocumentFixtures.textPDF(pages: [["Invoice 2041"]])
            let outcome = await sandbox.run(pdf, declaredType: "application/pdf", filename: "a.pdf")
            #expect(outcome.status == .completed, "\(outcome.reason ?? "")")
            #expect(outcome.extraction?.text.contains("Invoice 2041") == true)
            let table = seen.text
            func row(_ name: String) -> [String] {
                table.split(separator: "\n").first { $0.hasPrefix(name) }.map { $0.dropFirst(name.count).split(separator: " ").map(String.init) } ?? []
            }
            #expect(row("Max address space").prefix(2) == ["\(768 << 20)", "\(768 << 20)"], "\(table)")
            #expect(row("Max cpu time").prefix(2) == ["17", "18"], "\(table)")
            #expect(row("Max core file size").prefix(2) == ["0", "0"], "\(table)")
        }

        @Test("a crash, a timeout and bad output each fail the document with a reason", .timeLimit(.minutes(1)))
        func childFailures() async throws {
            let pdf = DocumentFixtures.textPDF(pages: [["Hello"]])
            let crashing = try Self.sandbox(environment: ["ASTRALISD_EXTRACT_TEST_DELAY_MS": "3000"]) { pid in
                usleep(300_000)
                kill(pid, SIGSEGV)
            }
            let crashed = await crashing.run(pdf, declaredType: "", filename: "")
            #expect(crashed.status == .failed)
            #expect(crashed.reason?.hasPrefix("extraction child crashed with signal 11 (SIGSEGV)") == true, "\(crashed.reason ?? "")")

            var quick = DocumentsConfig()
            quick.timeoutSeconds = 0.5
            let start = ContinuousClock.now
            let slow = try Self.sandbox(quick, environment: ["ASTRALISD_EXTRACT_TEST_DELAY_MS": "20000"])
            let timedOut = await slow.run(pdf, declaredType: "", filename: "")
            #expect(timedOut.status == .failed)
            #expect(timedOut.reason == "extraction timed out after 0.5 s (documents.timeout_seconds); child killed")
            #expect(ContinuousClock.now - start < .seconds(10))

            let echo = ExtractionSandbox(executable: "/bin/echo", settings: ExtractionSettings(limits: DocumentsConfig()))
            let garbage = await echo.run(pdf, declaredType: "", filename: "")
            #expect(garbage.status == .failed)
            #expect(garbage.reason?.contains("not a valid result") == true, "\(garbage.reason ?? "")")
        }

        @Test("hostile uploads fail with reasons while the daemon stays ready and routes a normal intake", .timeLimit(.minutes(3)))
        func hostileUploads() async throws {
            let fixture = try DaemonFixture()
            defer { fixture.cleanUp() }
            try fixture.writeConfig(fixture.configJSON(extraTopLevel: [
                "documents": ["max_inflated_bytes": 8 << 20, "timeout_seconds": 60, "concurrency": 2, "ocr_threads": 1],
            ]) { organization in
                var sources = organization["sources"] as? [[String: Any]] ?? []
                sources[0]["max_body_bytes"] = 16 << 20
                organization["sources"] = sources
            })
            let daemon = try await fixture.startReady()
            let files: [(name: String, type: String, data: Data)] = [
                ("many.pdf", "application/pdf", DocumentFixtures.manyPagesPDF(count: 20_000)),
                ("huge.png", "image/png", DocumentFixtures.pngHeader(width: 100_000, height: 100_000)),
                ("bomb.pdf", "application/pdf", DocumentFixtures.flatePDF(compressed: DocumentFixtures.flateBomb(inflating: 32 << 20))),
                ("photo.jpg", "image/jpeg", DocumentFixtures.textPDF(pages: [["Disguised 77"]])),
                ("cut.pdf", "application/pdf", DocumentFixtures.textPDF(pages: [["Hello"]]).prefix(60)),
                ("invoice.pdf", "application/pdf", DocumentFixtures.elf),
                ("good.pdf", "application/pdf", DocumentFixtures.textPDF(pages: [["Invoice INV-9 total 12.00"]])),
            ]
            var arguments = ["-sS", "--max-time", "30", "-F", "name=Ann", "-F", "subject=Hostile files"]
            for (index, file) in files.enumerated() {
                let path = fixture.root.appendingPathComponent(file.name).path
                try file.data.write(to: URL(fileURLWithPath: path))
                arguments += ["-F", "file\(index)=@\(path);type=\(file.type);filename=\(file.name)"]
            }
            arguments.append(fixture.webhookBase + "/hooks/\(DaemonFixture.source)")
            let posted = try await runCommand(try TestTools.curl(), arguments, environment: TestTools.childEnvironment([:]), in: fixture.root, timeout: .seconds(40))
            let accepted = try JSONSerialization.jsonObject(with: Data(posted.stdout.utf8)) as? [String: Any]
            let hostileID = try #require(accepted?["intake_id"] as? String, "\(posted.summary)")

            let normal = try await fixture.postWebhook(body: DaemonFixture.payload(name: "Bob", subject: "Plain"))
            let normalID = try #require(normal.decode(AcceptedWebhook.self)?.intake_id, "\(normal.body)")
            let notDone = try await fixture.waitUntilDone([hostileID, normalID], timeout: .seconds(120))
            #expect(notDone.isEmpty, "\(notDone) log:\n\(daemon.log)")
            let ready = try await HTTP.request("GET", fixture.adminBase + "/readyz")
            #expect(ready.status == 200, "\(ready.body)")

            let show = try await fixture.cli(["intake", "show", hostileID])
            let report = try JSONDecoder().decode(ShowReport.self, from: Data(show.stdout.utf8))
            let byName = Dictionary(uniqueKeysWithValues: report.documents.map { ($0.filename, $0) })
            #expect(byName["many.pdf"]?.status == "failed")
            #expect(byName["many.pdf"]?.statusReason == "PDF declares 20000 pages, over documents.max_pages (500)")
            #expect(byName["huge.png"]?.status == "failed")
            #expect(byName["huge.png"]?.statusReason?.contains("100000×100000") == true)
            #expect(byName["bomb.pdf"]?.status == "failed")
            #expect(byName["bomb.pdf"]?.statusReason?.contains("compression bomb") == true, "\(byName["bomb.pdf"]?.statusReason ?? "")")
            #expect(byName["cut.pdf"]?.status == "failed")
            #expect(byName["cut.pdf"]?.statusReason?.isEmpty == false)
            #expect(byName["invoice.pdf"]?.status == "unsupported")
            #expect(byName["photo.jpg"]?.status == "completed")
            #expect(byName["good.pdf"]?.status == "completed")
            let photo = try #require(byName["photo.jpg"].flatMap { report.extraction[$0.id] })
            #expect(photo.typeMismatch == "declared image/jpeg, named .jpg but the content is pdf")
            let good = try #require(byName["good.pdf"].flatMap { report.extraction[$0.id] })
            #expect(good.extraction?.text.contains("INV-9") == true)
            #expect(good.thumbnailBlob?.count == 64)
            let elf = try #require(byName["invoice.pdf"].flatMap { report.extraction[$0.id] })
            #expect(elf.detectedType == "elf")

            let metrics = try await HTTP.request("GET", fixture.adminBase + "/metrics")
            #expect(metrics.body.contains("astralisd_documents_total{outcome=\"failed\"} 4"), "\(metrics.body)")
            try await fixture.stop(daemon)
        }

        struct ShowReport: Decodable {
            struct StoredDocument: Decodable {
                var id: String
                var filename: String
                var status: String
                var statusReason: String?
            }
            var documents: [StoredDocument]
            var extraction: [String: DocumentOutcome]
        }
    }
}

/// What the spawn callback read, handed back to the test.
final class LimitsProbe: @unchecked Sendable {
    // @unchecked: `value` is guarded by `lock`.
    private let lock = NSLock()
    private var value = ""
    func record(_ text: String) { lock.lock(); value = text; lock.unlock() }
    var text: String { lock.lock(); defer { lock.unlock() }; return value }
}
