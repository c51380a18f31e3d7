import Foundation
import Testing

extension DaemonProcessTests {
    /// Spool sources in the running daemon, their `check` errors, and the `mail` limits in the CLI.
    @Suite("spool folder and mail limits")
    struct SpoolSources {
        static var spoolSource: [String: Any] { ["id": "drop", "type": "spool", "path": "spool", "poll_interval_ms": 100] }

        @Test("a message dropped into the spool folder of the running daemon becomes one item; the file moves to done", .timeLimit(.minutes(2)))
        func dropMessage() async throws {
            let fixture = try DaemonFixture()
            defer { fixture.cleanUp() }
            try fixture.writeConfig(fixture.configJSON { organization in
                var sources = organization["sources"] as? [[String: Any]] ?? []
                sources.append(Self.spoolSource)
                organization["sources"] = sources
                var route = organization["default_route"] as? [String: Any] ?? [:]
                route["title"] = "{{subject}} from {{from}}"
                organization["default_route"] = route
            })
            let check = try await fixture.cli(["check"])
            #expect(check.exitedCleanly, "\(check.summary)")

            let daemon = try await fixture.startReady()
            let spool = fixture.stateDir + "/spool"
            // Write-then-rename, as a writer should: the .tmp name is never taken.
            try Data(MailCommands.message.utf8).write(to: URL(fileURLWithPath: spool + "/quote.eml.tmp"))
            try FileManager.default.moveItem(atPath: spool + "/quote.eml.tmp", toPath: spool + "/quote.eml")

            var items: [ItemRow] = []
            let deadline = ContinuousClock.now + .seconds(30)
            while items.isEmpty, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(200))
                items = try await fixture.items()
            }
            #expect(items.map(\.title) == ["Quote request 99 from jose@example.es"], "log:\n\(daemon.log)")
            let done = try FileManager.default.contentsOfDirectory(atPath: spool + "/done")
            #expect(done.count == 1 && done.first?.hasSuffix("-quote.eml") == true, "\(done)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: spool + "/.processing").isEmpty)

            let metrics = try await HTTP.request("GET", fixture.adminBase + "/metrics")
            #expect(metrics.body.contains("astralisd_spool_files_taken_total{source=\"drop\",duplicate=\"false\"} 1") || metrics.body.contains("astralisd_spool_files_taken_total{duplicate=\"false\",source=\"drop\"} 1"), "\(metrics.body)")
            // A spool source is not a webhook endpoint.
            let webhook = try await fixture.postWebhook(source: "drop", body: "{}")
            #expect(webhook.status == 404)
            try await fixture.stop(daemon)

            let intakeID = try #require(done.first.map { String($0.prefix { $0 != "-" }) })
            let report = try await fixture.intakeReport(intakeID)
            #expect(report.intake.status == "done")
            let show = try await fixture.cli(["intake", "show", intakeID])
            let parsed = try JSONDecoder().decode(MailCommands.Report.self, from: Data(show.stdout.utf8))
            #expect(parsed.intake.sourceKind == "spool")
            #expect(parsed.documents.map(\.filename) == ["quote 99.pdf"])
        }

        @Test("check reports bad spool sources and mail limits with their key paths", .timeLimit(.minutes(1)))
        func checkErrors() async throws {
            let fixture = try DaemonFixture()
            defer { fixture.cleanUp() }
            let notADirectory = fixture.root.appendingPathComponent("plain-file").path
            try Data("x".utf8).write(to: URL(fileURLWithPath: notADirectory))
            try fixture.writeConfig(fixture.configJSON(extraTopLevel: ["mail": ["max_parts": 0, "max_depht": 3]]) { organization in
                var sources = organization["sources"] as? [[String: Any]] ?? []
                sources.append(["id": "file-path", "type": "spool", "path": notADirectory])
                sources.append(["id": "loop", "type": "spool", "path": "/tmp/x-spool", "done_dir": "/tmp/x-spool/", "poll_interval_ms": 1])
                sources.append(["id": "no-path", "type": "spool", "auth": ["type": "none"]])
                organization["sources"] = sources
            })
            let result = try await fixture.cli(["check"])
            #expect(result.reason == .exit && result.status == 1, "\(result.summary)")
            let expected = [
                "mail.max_depht: unknown key; expected one of max_depth, max_message_bytes, max_parts",
                "mail.max_parts: expected an integer in 1...100000, got 0",
                "organizations[0].sources[2].done_dir: expected a directory other than path (\"/tmp/x-spool\"): files there would be taken again, got \"/tmp/x-spool/\"",
                "organizations[0].sources[2].poll_interval_ms: expected an integer in 10...3600000, got 1",
                "organizations[0].sources[3].auth: unknown key; expected one of done_dir, failed_dir, id, max_message_bytes, path, poll_interval_ms, route, type",
                "organizations[0].sources[3].path: missing; expected a string",
            ]
            for line in expected {
                #expect(result.stdout.contains(line) || result.stderr.contains(line), "missing \(line): \(result.summary)")
            }
            // The file/folder checks run once the document is valid.
            try fixture.writeConfig(fixture.configJSON { organization in
                var sources = organization["sources"] as? [[String: Any]] ?? []
                sources.append(["id": "file-path", "type": "spool", "path": notADirectory])
                sources.append(["id": "one", "type": "spool", "path": "shared"])
                sources.append(["id": "two", "type": "spool", "path": "shared/"])
                organization["sources"] = sources
            })
            let onDisk = try await fixture.cli(["check"])
            #expect(onDisk.reason == .exit && onDisk.status == 1, "\(onDisk.summary)")
            let output = onDisk.stdout + onDisk.stderr
            #expect(output.contains("organizations[0].sources[1].path: expected a directory, got a file that is not one (\(notADirectory))"), "\(onDisk.summary)")
            #expect(output.contains("organizations[0].sources[1].done_dir: expected a directory that exists or can be created"), "\(onDisk.summary)")
            #expect(output.contains("organizations[0].sources[3].path: expected a folder no other spool source watches"), "\(onDisk.summary)")
        }

        @Test("parse takes the mail limits from --config, and --max-* flags override them; --bench parses a folder", .timeLimit(.minutes(1)))
        func parseLimits() async throws {
            let fixture = try DaemonFixture()
            defer { fixture.cleanUp() }
            try fixture.writeConfig(fixture.configJSON(extraTopLevel: ["mail": ["max_message_bytes": 100]]))
            let file = fixture.root.appendingPathComponent("quote.eml")
            try Data(MailCommands.message.utf8).write(to: file)
            let binary = try TestTools.astralisd()
            let environment = TestTools.childEnvironment([:])

            let limited = try await runCommand(binary, ["parse", file.path, "--config", fixture.configPath], environment: environment, in: fixture.root)
            #expect(limited.reason == .exit && limited.status == 1, "\(limited.summary)")
            #expect(limited.stderr.contains("over the limit of 100 bytes"), "\(limited.summary)")
            let overridden = try await runCommand(binary, ["parse", file.path, "--config", fixture.configPath, "--max-message-bytes", "100000"], environment: environment, in: fixture.root)
            #expect(overridden.exitedCleanly, "\(overridden.summary)")

            let corpus = fixture.root.appendingPathComponent("corpus")
            try FileManager.default.createDirectory(at: corpus, withIntermediateDirectories: true)
            for index in 0..<3 { try Data(MailCommands.message.utf8).write(to: corpus.appendingPathComponent("\(index).eml")) }
            let bench = try await runCommand(binary, ["parse", "--bench", corpus.path, "--iterations", "2"], environment: environment, in: fixture.root)
            #expect(bench.exitedCleanly, "\(bench.summary)")
            #expect(bench.stdout.hasPrefix("files=3 iterations=2 parsed=6 refused=0 attachments=6 "), "\(bench.summary)")
        }
    }
}
