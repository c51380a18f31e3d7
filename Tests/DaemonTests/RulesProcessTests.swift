import Foundation
import Testing

extension DaemonProcessTests {
    /// The rules file in the running binary: `check`, `rules test`, routing, `intake show`, SIGHUP.
    @Suite("Rules in the daemon")
    struct Rules {
        /// Sends names starting with "VIP" to sales/won; everything else takes the default route.
        static func rules(stage: String = "won", title: String = "VIP {{payload.name}}") -> String {
            """
            {"version": 1, "rules": [
              {"id": "vip", "when": {"field": "payload.name", "op": "starts_with", "value": "vip"},
               "then": {"route": {"pipeline": "sales", "stage": "\(stage)", "priority": "urgent", "title": "\(title)"}}, "stop": true}
            ]}
            """
        }

        static let broken = #"{"version": 1, "rules": [{"id": "vip", "when": {"field": "payload.name", "op": "matches", "value": "("}, "then": {"route": {"pipeline": "legal"}}}]}"#

        func write(_ text: String, _ name: String, in fixture: DaemonFixture) throws -> String {
            let path = fixture.root.appendingPathComponent(name).path
            try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
            return path
        }

        @Test("check validates the rules file named by rules_file (relative to the config) and by --rules", .timeLimit(.minutes(1)))
        func checkValidatesRules() async throws {
            let fixture = try DaemonFixture()
            defer { fixture.cleanUp() }
            _ = try write(Self.rules(), "rules.json", in: fixture)
            let brokenPath = try write(Self.broken, "broken.json", in: fixture)
            try fixture.writeConfig(fixture.configJSON(extraTopLevel: ["rules_file": "rules.json"]))

            let valid = try await fixture.cli(["check"])
            #expect(valid.exitedCleanly, "\(valid.summary)")
            #expect(valid.stdout.contains("rules.json: rules ok (1 rule(s))"), "\(valid.summary)")

            let overridden = try await fixture.cli(["check", "--rules", brokenPath])
            #expect(overridden.reason == .exit && overridden.status == 1, "\(overridden.summary)")
            #expect(overridden.stderr.contains("\(brokenPath)#/rules/0/when/value: expected a valid regular expression (ICU syntax), got \"(\""), "\(overridden.summary)")
            #expect(overridden.stderr.contains("\(brokenPath)#/rules/0/then/route/pipeline: unknown pipeline \"legal\""), "\(overridden.summary)")

            try fixture.writeConfig(fixture.configJSON(extraTopLevel: ["rules_file": "missing.json"]))
            let missing = try await fixture.cli(["check"])
            #expect(missing.status == 1 && missing.stderr.contains("rules file does not exist"), "\(missing.summary)")
        }

        @Test("rules test explains a sample and writes nothing", .timeLimit(.minutes(1)))
        func rulesTest() async throws {
            let fixture = try DaemonFixture()
            defer { fixture.cleanUp() }
            let rulesPath = try write(Self.rules(), "rules.json", in: fixture)
            let vip = try write(DaemonFixture.payload(name: "VIP Grace", subject: "Deal"), "vip.json", in: fixture)
            let plain = try write(DaemonFixture.payload(name: "Alan", subject: "Hello"), "plain.json", in: fixture)

            let routed = try await fixture.cli(["rules", "test", "--rules", rulesPath, "--input", vip])
            #expect(routed.exitedCleanly, "\(routed.summary)")
            #expect(routed.stdout.contains("decision: route to sales/won (priority urgent) by rule:vip"), "\(routed.summary)")
            #expect(routed.stdout.contains("item title: VIP VIP Grace"), "\(routed.summary)")
            #expect(routed.stdout.contains("true  payload.name starts_with vip ← \"VIP Grace\""), "\(routed.summary)")

            let json = try await fixture.cli(["rules", "test", "--rules", rulesPath, "--input", plain, "--source", DaemonFixture.source, "--json"])
            #expect(json.exitedCleanly, "\(json.summary)")
            struct Shape: Decodable {
                struct Rule: Decodable { var rule: String; var matched: Bool }
                var decidedBy: String
                var rules: [Rule]
            }
            let decoded = try JSONDecoder().decode(Shape.self, from: Data(json.stdout.utf8))
            #expect(decoded.decidedBy == "default-route")
            #expect(decoded.rules.map(\.matched) == [false])

            let unknownSource = try await fixture.cli(["rules", "test", "--rules", rulesPath, "--input", plain, "--source", "nope"])
            #expect(unknownSource.status == 1 && unknownSource.stderr.contains("no source nope"), "\(unknownSource.summary)")
            #expect(!FileManager.default.fileExists(atPath: fixture.stateDir + "/astralisd.sqlite"), "rules test must not open or create the store")
        }

        @Test("a running daemon routes by rules, stores the trace, and keeps its rules when a reload brings broken ones", .timeLimit(.minutes(2)))
        func routingAndReload() async throws {
            let fixture = try DaemonFixture()
            defer { fixture.cleanUp() }
            let rulesPath = try write(Self.rules(), "rules.json", in: fixture)
            try fixture.writeConfig(fixture.configJSON(extraTopLevel: ["rules_file": rulesPath]))
            let daemon = try await fixture.startReady()

            func post(_ name: String) async throws -> String {
                let answer = try await fixture.postWebhook(body: DaemonFixture.payload(name: name, subject: "Hi"))
                try #require(answer.status == 202, "\(answer.body)")
                let id = try #require(answer.decode(AcceptedWebhook.self)).intake_id
                let stuck = try await fixture.waitUntilDone([id])
                #expect(stuck.isEmpty, "log:\n\(daemon.log)")
                return id
            }

            let first = try await post("VIP One")
            // Broken rules: the reload is rejected as a whole and the old rules keep routing.
            _ = try write(Self.broken, "rules.json", in: fixture)
            daemon.signal(SIGHUP)
            #expect(await daemon.waitForLog("Reload rejected", count: 1), "log:\n\(daemon.log)")
            #expect(daemon.log.contains("#/rules/0/then/route/pipeline"), "the rejection names the rule error; log:\n\(daemon.log)")
            let second = try await post("VIP Two")
            // Valid new rules: applied.
            _ = try write(Self.rules(stage: "new", title: "New VIP {{payload.name}}"), "rules.json", in: fixture)
            daemon.signal(SIGHUP)
            #expect(await daemon.waitForLog("Configuration reloaded", count: 1), "log:\n\(daemon.log)")
            let third = try await post("VIP Three")
            let plain = try await post("Alan")
            try await fixture.stop(daemon)

            let items = try await fixture.items()
            func item(_ intake: String) -> ItemRow? { items.first { $0.intakeID == intake } }
            #expect(item(first)?.stage == "won" && item(first)?.title == "VIP VIP One")
            #expect(item(second)?.stage == "won" && item(second)?.title == "VIP VIP Two", "old rules still in force after the rejected reload")
            #expect(item(third)?.stage == "new" && item(third)?.title == "New VIP VIP Three", "new rules after the valid reload")
            #expect(item(plain)?.title == "Alan - Hi", "no rule matched: the default route")

            let explained = try await fixture.cli(["intake", "show", first, "--explain"])
            #expect(explained.exitedCleanly, "\(explained.summary)")
            #expect(explained.stdout.contains("decision: route to sales/won (priority urgent) by rule:vip"), "\(explained.summary)")
            #expect(explained.stdout.contains("MATCH vip /rules/0"), "\(explained.summary)")
        }
    }
}
