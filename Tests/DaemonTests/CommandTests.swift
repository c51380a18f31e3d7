import Foundation
import Testing

extension DaemonProcessTests {
    /// `astralisd check`, which must report every problem with its key path (like `nginx -t`).
    @Suite("astralisd check")
    struct Check {
        /// `astralisd check --config PATH` (no `--state-dir`: check reads the file as `run` would).
        func check(_ fixture: DaemonFixture, configText: String? = nil, path: String? = nil, environment: [String: String] = [:]) async throws -> CommandResult {
            var configPath = path ?? fixture.configPath
            if let configText {
                configPath = fixture.root.appendingPathComponent("check-\(UUID().uuidString.prefix(6)).json").path
                try Data(configText.utf8).write(to: URL(fileURLWithPath: configPath))
            }
            return try await runCommand(try TestTools.astralisd(), ["check", "--config", configPath], environment: TestTools.childEnvironment(environment), in: fixture.root)
        }

        @Test("a valid configuration: exit 0, configuration ok", .timeLimit(.minutes(1)))
        func validConfiguration() async throws {
            let fixture = try DaemonFixture()
            defer { fixture.cleanUp() }
            let result = try await check(fixture)
            #expect(result.exitedCleanly, "\(result.summary)")
            #expect(result.stdout.contains("configuration ok"), "\(result.summary)")
            #expect(result.stdout.contains("1 source(s)"), "\(result.summary)")
        }

        @Test("with SMTP accounts, check loads libcurl (opened only on the first send when running) and names it", .timeLimit(.minutes(1)))
        func smtpAccountsLoadLibcurl() async throws {
            let fixture = try DaemonFixture()
            defer { fixture.cleanUp() }
            try fixture.writeConfig(fixture.configJSON(extraTopLevel: [
                "smtp_accounts": [[
                    "id": "support", "host": "smtp.example.com", "port": 587, "tls": "starttls",
                    "username": "support", "password": ["value": "secret"], "auth": "login",
                    "from_address": "support@acme.example", "message_id_domain": "acme.example",
                ] as [String: Any]],
            ]))
            let result = try await check(fixture)
            #expect(result.exitedCleanly, "\(result.summary)")
            #expect(result.stdout.contains("smtp: 1 account(s); replies go out through libcurl/"), "\(result.summary)")
        }

        /// Five independent mistakes, each where no other one hides it.
        static let fiveErrors = """
            {
              "bogus_key": true,
              "listen": {"webhooks": "localhost-no-port", "admin": "127.0.0.1:9191"},
              "organizations": [
                {
                  "id": "demo",
                  "pipelines": [{"id": "sales", "stages": [{"id": "new"}]}],
                  "default_route": {"pipeline": "sales", "stage": "new"},
                  "sources": [
                    {"id": "contact-form", "type": "webhook", "auth": {"type": "none"}},
                    {"id": "contact-form", "type": "webhook", "auth": {"type": "none"}},
                    {"id": "signed-form", "type": "webhook", "auth": {"type": "hmac"}}
                  ]
                },
                {
                  "id": "other",
                  "pipelines": [{"id": "support", "stages": [{"id": "open"}]}],
                  "default_route": {"pipeline": "no-such-pipeline", "stage": "open"},
                  "sources": []
                }
              ]
            }
            """

        @Test("several errors: exit 1 and every one listed with its key path", .timeLimit(.minutes(1)))
        func everyErrorListed() async throws {
            let fixture = try DaemonFixture()
            defer { fixture.cleanUp() }
            let result = try await check(fixture, configText: Self.fiveErrors)
            #expect(result.reason == .exit && result.status == 1, "\(result.summary)")
            #expect(!result.stdout.contains("configuration ok"), "\(result.summary)")
            let expected = [
                "bogus_key: unknown key",
                "listen.webhooks: expected \"host:port\"",
                "organizations[0].sources[1].id: source id \"contact-form\" is already used",
                "organizations[0].sources[2].auth.type: expected one of standard-webhooks, github, bearer, none, got \"hmac\"",
                "organizations[1].default_route.pipeline: expected one of this organization's pipelines (support), got \"no-such-pipeline\"",
            ]
            for line in expected {
                #expect(result.stderr.contains("  - " + line), "missing `\(line)` in:\n\(result.stderr)")
            }
            #expect(result.stderr.contains("5 errors"), "exactly these five: \(result.stderr)")
        }


        @Test("errors inside an organization or source that failed are still all reported at their own paths", .timeLimit(.minutes(1)))
        func errorsBesideARejectedPart() async throws {
            let fixture = try DaemonFixture()
            defer { fixture.cleanUp() }
            let badRouteWithDuplicates = """
                {
                  "organizations": [{
                    "id": "demo",
                    "pipelines": [{"id": "sales", "stages": [{"id": "new"}]}],
                    "default_route": {"pipeline": "missing-pipeline"},
                    "sources": [
                      {"id": "contact-form", "type": "webhook", "auth": {"type": "none"}},
                      {"id": "contact-form", "type": "webhook", "auth": {"type": "none"}}
                    ]
                  }]
                }
                """
            let first = try await check(fixture, configText: badRouteWithDuplicates)
            #expect(first.status == 1, "\(first.summary)")
            #expect(first.stderr.contains("organizations[0].default_route.pipeline:"), "\(first.stderr)")
            #expect(first.stderr.contains("organizations[0].sources[1].id: source id \"contact-form\" is already used"), "\(first.stderr)")

            let shiftedIndex = """
                {
                  "organizations": [{
                    "id": "demo",
                    "pipelines": [{"id": "sales", "stages": [{"id": "new"}]}],
                    "default_route": {"pipeline": "sales"},
                    "sources": [
                      {"id": "signed-form", "type": "webhook", "auth": {"type": "hmac"}},
                      {"id": "contact-form", "type": "webhook", "auth": {"type": "none"}},
                      {"id": "contact-form", "type": "webhook", "auth": {"type": "none"}}
                    ]
                  }]
                }
                """
            let second = try await check(fixture, configText: shiftedIndex)
            #expect(second.status == 1, "\(second.summary)")
            #expect(second.stderr.contains("organizations[0].sources[0].auth.type:"), "\(second.stderr)")
            #expect(second.stderr.contains("organizations[0].sources[2].id: source id \"contact-form\""), "\(second.stderr)")
        }

        @Test("a missing file: exit 1 and a clear message", .timeLimit(.minutes(1)))
        func missingFile() async throws {
            let fixture = try DaemonFixture()
            defer { fixture.cleanUp() }
            let path = fixture.root.appendingPathComponent("nowhere.json").path
            let result = try await check(fixture, path: path)
            #expect(result.reason == .exit && result.status == 1, "\(result.summary)")
            #expect(result.stderr.contains(path) && result.stderr.contains("does not exist"), "\(result.summary)")
        }

        @Test("an environment override is checked like the file", .timeLimit(.minutes(1)))
        func environmentOverride() async throws {
            let fixture = try DaemonFixture()
            defer { fixture.cleanUp() }
            let bad = try await check(fixture, environment: ["ASTRALISD_WORKERS__CONCURRENCY": "0"])
            #expect(bad.reason == .exit && bad.status == 1, "\(bad.summary)")
            #expect(bad.stderr.contains("workers.concurrency: expected an integer in 1...256, got 0"), "\(bad.summary)")

            // The same variable with a good value passes: the failure above came from the override.
            let good = try await check(fixture, environment: ["ASTRALISD_WORKERS__CONCURRENCY": "3"])
            #expect(good.exitedCleanly, "\(good.summary)")
        }
    }

    /// `astralisd ingest` writes into a stopped daemon's state; the next start processes it.
    @Suite("astralisd ingest")
    struct Ingest {
        @Test("ingest on a stopped daemon, then start: the intake becomes an item", .timeLimit(.minutes(2)))
        func ingestThenStart() async throws {
            let fixture = try DaemonFixture()
            defer { fixture.cleanUp() }
            let payloadURL = fixture.root.appendingPathComponent("lead.json")
            try Data(DaemonFixture.payload(name: "Grace", subject: "Offline lead").utf8).write(to: payloadURL)

            let ingest = try await fixture.cli(["ingest", payloadURL.path, "--source", DaemonFixture.source, "--idempotency-key", "file-1"])
            #expect(ingest.exitedCleanly, "\(ingest.summary)")
            let intakeID = try #require(ingest.stdout.split(separator: " ").first.map(String.init), "\(ingest.summary)")
            #expect(intakeID.hasPrefix("in_") && ingest.stdout.contains("received"), "\(ingest.summary)")

            // The same key again is the same intake, not a second one.
            let again = try await fixture.cli(["ingest", payloadURL.path, "--source", DaemonFixture.source, "--idempotency-key", "file-1"])
            #expect(again.exitedCleanly && again.stdout.hasPrefix("\(intakeID) already received"), "\(again.summary)")

            let waiting = try await fixture.intakeReport(intakeID)
            #expect(waiting.intake.status == "received" && waiting.item == nil, "nothing processes it while the daemon is stopped: \(waiting.intake.status)")
            #expect(try await fixture.items().isEmpty)

            let daemon = try await fixture.startReady()
            let stuck = try await fixture.waitUntilDone([intakeID])
            #expect(stuck.isEmpty, "ingested intake not processed: \(stuck)\nlog:\n\(daemon.log)")
            try await fixture.stop(daemon)

            let report = try await fixture.intakeReport(intakeID)
            #expect(report.intake.status == "done")
            #expect(report.intake.source == DaemonFixture.source)
            #expect(report.item?.intakeID == intakeID)
            #expect(report.item?.title == "Grace - Offline lead", "title from the ingested file: \(String(describing: report.item?.title))")
            let items = try await fixture.items()
            #expect(items.count == 1 && items.first?.intakeID == intakeID, "\(items.map(\.intakeID))")
        }

        @Test("ingest refuses an unknown source", .timeLimit(.minutes(1)))
        func unknownSource() async throws {
            let fixture = try DaemonFixture()
            defer { fixture.cleanUp() }
            let payloadURL = fixture.root.appendingPathComponent("lead.json")
            try Data(DaemonFixture.payload(name: "Grace", subject: "x").utf8).write(to: payloadURL)
            let result = try await fixture.cli(["ingest", payloadURL.path, "--source", "no-such-form"])
            #expect(result.reason == .exit && result.status == 1, "\(result.summary)")
            #expect(result.stderr.contains("no source no-such-form"), "\(result.summary)")
        }
    }
}
